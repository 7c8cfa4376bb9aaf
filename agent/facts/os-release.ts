import type { Fs } from "../../shared/host-io.js";
import type { HostFacts } from "../../shared/facts.js";

/**
 * Parses os-release(5): KEY=value lines, values optionally in single or
 * double quotes (double quotes honour backslash escapes), comments and blank
 * lines ignored.
 */
export function parseOsRelease(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match === null) continue;
    const [, key = "", value = ""] = match;
    fields.set(key, unquote(value));
  }
  return fields;
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1).replace(/\\(["\\$`])/g, "$1");
  }
  return value;
}

/** /etc/os-release, else /usr/lib/os-release (the documented fallback). */
export async function readOs(fs: Fs): Promise<HostFacts["os"]> {
  const text = (await fs.readTextIfExists("/etc/os-release")) ?? (await fs.readTextIfExists("/usr/lib/os-release"));
  const fields = parseOsRelease(text ?? "");
  return {
    id: fields.get("ID") ?? "",
    versionId: fields.get("VERSION_ID") ?? "",
    codename: fields.get("VERSION_CODENAME") ?? "",
    prettyName: fields.get("PRETTY_NAME") ?? "",
  };
}
