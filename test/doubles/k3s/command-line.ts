import { FatalError } from "./fatal.js";
import { aliasFor, flagFor, type FlagSpec, type Role } from "./flags.js";

/** A flag's value: a string, a boolean, or a list for repeatable flags. */
export type FlagValue = string | boolean | readonly string[];

/** Whether a flag value is a list (a repeatable flag's). */
export function isList(value: FlagValue | undefined): value is readonly string[] {
  return Array.isArray(value);
}

/** Repeatable values are also split at commas, as k3s's string-slice flags do. */
export function splitList(values: readonly string[]): string[] {
  return values.flatMap((value) => value.split(",")).filter((value) => value !== "");
}

/**
 * Parses the arguments after `k3s server` / `k3s agent` the way k3s's CLI
 * library does: `--name value`, `--name=value`, one dash or two, one-letter
 * aliases, booleans without a value (`--cluster-init`) or with `=false`,
 * repeatable flags collected into a list. An undefined flag, a missing value
 * or a stray argument is a FatalError with the library's wording.
 */
export function parseCommandLine(role: Role, args: readonly string[]): Map<string, FlagValue> {
  const values = new Map<string, FlagValue>();
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] ?? "";
    const match = /^--?([A-Za-z0-9][A-Za-z0-9-]*)(=(.*))?$/s.exec(arg);
    if (match === null) throw new FatalError(`Incorrect Usage: unexpected argument "${arg}"`);
    const given = match[1] ?? "";
    const inline = match[3];
    const name = given.length === 1 ? (aliasFor(role, given) ?? given) : given;
    const spec: FlagSpec | undefined = flagFor(role, name);
    if (spec === undefined) throw new FatalError(`Incorrect Usage: flag provided but not defined: -${given}`);
    if (spec.kind === "bool") {
      values.set(name, inline === undefined ? true : parseBool(inline, `-${given}`));
      continue;
    }
    let value = inline;
    if (value === undefined) {
      index += 1;
      value = args[index];
      if (value === undefined) throw new FatalError(`Incorrect Usage: flag needs an argument: -${given}`);
    }
    if (spec.kind === "list") {
      const before = values.get(name);
      values.set(name, [...(isList(before) ? before : []), ...splitList([value])]);
    } else {
      values.set(name, value);
    }
  }
  return values;
}

/** Go's strconv.ParseBool. */
export function parseBool(text: string, what: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) return false;
  throw new FatalError(`Incorrect Usage: invalid boolean value "${text}" for ${what}`);
}
