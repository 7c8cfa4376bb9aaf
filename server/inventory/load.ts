import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import { readIni } from "./ini.js";
import { Problems } from "./problems.js";
import type { Inventory, InventoryDeps } from "./types.js";
import { finishInventory } from "./validate.js";
import { readYaml } from "./yaml.js";

/**
 * The format of an inventory: .yaml/.yml is YAML; .ini/.cfg or no extension
 * is Ansible INI; anything else is sniffed from the first meaningful line
 * (a `[section]` or `name key=value` line is INI, `key:` or `---` is YAML).
 */
export function detectFormat(file: string, text: string): Inventory["format"] {
  const extension = path.extname(file).toLowerCase();
  if (extension === ".yaml" || extension === ".yml") return "yaml";
  if (extension === "" || extension === ".ini" || extension === ".cfg") return "ini";
  const first = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .find((line) => line !== "" && !line.startsWith("#") && !line.startsWith(";"));
  return first !== undefined && (first.startsWith("---") || /^[\w-]+:(\s|$)/.test(first)) ? "yaml" : "ini";
}

/**
 * Parses and validates an inventory's text. Pure: it consults nothing but
 * `deps` (relative paths in the file are taken from `file`'s folder, so pass
 * an absolute `file`). Throws an InventoryInvalidError (INVENTORY_INVALID)
 * listing every problem as "file:line: message".
 */
export function parseInventory(text: string, file: string, deps: InventoryDeps): Inventory {
  const format = detectFormat(file, text);
  const problems: Problems = new Problems(file); // annotated: lets problems.throw() narrow draft
  const draft = format === "yaml" ? readYaml(text, problems) : readIni(text, problems);
  if (draft === undefined) problems.throw(); // unreadable: the problems reported say why
  return finishInventory(draft, { file, format, deps, problems });
}

/** The real machine's deps: the file system, the user's home directory, process.env. */
export function defaultInventoryDeps(): InventoryDeps {
  return {
    fileExists: (file) => existsSync(file) && statSync(file).isFile(),
    homeDir: homedir(),
    env: process.env,
  };
}

/** Reads and validates the inventory at `file` (INVENTORY_UNREADABLE when it cannot be read). */
export async function loadInventory(file: string, deps: Partial<InventoryDeps> = {}): Promise<Inventory> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, "utf8");
  } catch (cause) {
    throw new GroundcrewError("INVENTORY_UNREADABLE", `cannot read inventory ${file}`, {
      cause,
      context: { file: absolute },
    });
  }
  return parseInventory(text, absolute, { ...defaultInventoryDeps(), ...deps });
}
