import type { HostFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";

/** os-release(5) locations, in the order the specification says to try them. */
export const OS_RELEASE_PATHS = ["/etc/os-release", "/usr/lib/os-release"] as const;

/** Characters a backslash escapes inside double quotes (shell rules, as os-release(5) requires). */
const DOUBLE_QUOTE_ESCAPABLE = new Set(['"', "\\", "$", "`"]);

/**
 * Parses os-release(5): KEY=value lines; blank lines and lines starting with
 * "#" are ignored, as are lines that are not assignments. Values follow shell
 * quoting: '...' is literal, "..." honours backslash escapes of " \ $ and `,
 * an unquoted backslash escapes the next character. A later duplicate key wins.
 */
export function parseOsRelease(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    fields.set(match[1], unquote(match[2]));
  }
  return fields;
}

/** Removes shell quoting from one value. An unterminated quote runs to the end of the line. */
export function unquote(value: string): string {
  let out = "";
  let i = 0;
  while (i < value.length) {
    const c = value.charAt(i);
    if (c === "'") {
      const end = value.indexOf("'", i + 1);
      const stop = end === -1 ? value.length : end;
      out += value.slice(i + 1, stop);
      i = stop + 1;
    } else if (c === '"') {
      i += 1;
      while (i < value.length && value.charAt(i) !== '"') {
        const next = value.charAt(i + 1);
        if (value.charAt(i) === "\\" && DOUBLE_QUOTE_ESCAPABLE.has(next)) {
          out += next;
          i += 2;
        } else {
          out += value.charAt(i);
          i += 1;
        }
      }
      i += 1;
    } else if (c === "\\" && i + 1 < value.length) {
      out += value.charAt(i + 1);
      i += 2;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/** The OS fields from the first os-release file that exists; every field is "" when absent. */
export async function readOs(fs: Fs): Promise<HostFacts["os"]> {
  let text = "";
  for (const path of OS_RELEASE_PATHS) {
    const found = await fs.readTextIfExists(path);
    if (found !== undefined) {
      text = found;
      break;
    }
  }
  const fields = parseOsRelease(text);
  return {
    id: fields.get("ID") ?? "",
    versionId: fields.get("VERSION_ID") ?? "",
    codename: fields.get("VERSION_CODENAME") ?? "",
    prettyName: fields.get("PRETTY_NAME") ?? "",
  };
}
