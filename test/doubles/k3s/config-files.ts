import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "yaml";
import { isList, splitList, type FlagValue } from "./command-line.js";
import { FatalError, messageOf } from "./fatal.js";
import { flagFor, type FlagSpec, type Role } from "./flags.js";
import { warn } from "./log.js";

export const DEFAULT_CONFIG_FILE = "/etc/rancher/k3s/config.yaml";

/**
 * Reads `file` (if it exists) and then every `<file>.d/*.yaml` in
 * alphabetical order, and merges them as k3s does: keys are flag names,
 * the last value wins, a key ending in `+` appends to a list. YAML is read
 * with 1.1 rules like k3s's Go parser (`0644` is octal 420, `yes` is true),
 * and numbers become their decimal text. Keys the role has no flag for are
 * skipped with k3s's warning. `explicit`: the file was named with --config
 * or K3S_CONFIG_FILE, so its absence is an error.
 */
export async function readConfigFiles(
  role: Role,
  file: string,
  explicit: boolean,
): Promise<Map<string, FlagValue>> {
  const merged = new Map<string, FlagValue>();
  const main = await readOptional(file);
  if (main === undefined && explicit) throw new FatalError(`open ${file}: no such file or directory`);
  if (main !== undefined) mergeDocument(role, file, main, merged);
  const dropInDir = `${file}.d`;
  const dropIns = (await readdir(dropInDir).catch(() => [])).filter((name) => name.endsWith(".yaml")).sort();
  for (const name of dropIns) {
    const dropIn = path.join(dropInDir, name);
    const text = await readOptional(dropIn);
    if (text !== undefined) mergeDocument(role, dropIn, text, merged);
  }
  return merged;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "ENOENT") return undefined;
    throw new FatalError(`failed to read ${file}: ${messageOf(error)}`);
  }
}

function mergeDocument(role: Role, file: string, text: string, merged: Map<string, FlagValue>): void {
  let document: unknown;
  try {
    document = parse(text, { version: "1.1" });
  } catch (error) {
    throw new FatalError(`failed to parse ${file}: ${messageOf(error)}`);
  }
  if (document === null || document === undefined) return;
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new FatalError(`failed to parse ${file}: the document is not a mapping of flag names to values`);
  }
  for (const [rawKey, raw] of Object.entries(document)) {
    const append = rawKey.endsWith("+");
    const key = append ? rawKey.slice(0, -1) : rawKey;
    const spec = flagFor(role, key);
    if (spec === undefined) {
      warn(`Unknown flag --${key} found in config.yaml, skipping`);
      continue;
    }
    const value = convert(spec, raw, `${file}: ${rawKey}`);
    const before = merged.get(key);
    merged.set(key, append && isList(value) && isList(before) ? [...before, ...value] : value);
  }
}

function convert(spec: FlagSpec, raw: unknown, where: string): FlagValue {
  if (spec.kind === "bool") {
    if (typeof raw === "boolean") return raw;
    if (raw === "true" || raw === "false") return raw === "true";
    throw new FatalError(`invalid value for ${where}: a boolean is expected`);
  }
  if (spec.kind === "string") {
    const text = scalarText(raw);
    if (text === undefined) throw new FatalError(`invalid value for ${where}: a single value is expected`);
    return text;
  }
  const items = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  const texts = items.map(scalarText);
  if (texts.some((text) => text === undefined)) {
    throw new FatalError(`invalid value for ${where}: a value or a list of values is expected`);
  }
  return splitList(texts.filter((text): text is string => text !== undefined));
}

function scalarText(raw: unknown): string | undefined {
  if (typeof raw === "string") return raw;
  if (typeof raw === "number" || typeof raw === "boolean") return String(raw);
  return undefined;
}
