/**
 * Scalar decoders shared by the YAML and INI readers. Each takes a raw value
 * (a YAML scalar or INI text), returns the typed value, or reports why not
 * and returns undefined. Messages quote the value: never decode secrets here.
 */
export type Report = (message: string) => void;

/** A value quoted for a message: JSON-escaped, shortened when long. */
export function show(raw: unknown): string {
  if (Array.isArray(raw)) return "a list";
  let text: string;
  if (typeof raw === "string") text = JSON.stringify(raw);
  else if (typeof raw === "number" || typeof raw === "boolean" || typeof raw === "bigint") text = String(raw);
  else return raw === null || raw === undefined ? "nothing" : "a map";
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A non-empty string (YAML numbers are not strings: an address or user must not be `1`). */
export function asText(raw: unknown, what: string, report: Report): string | undefined {
  if (typeof raw === "string" && raw.trim() !== "") return raw.trim();
  report(`${what} must be a non-empty string, got ${show(raw)}`);
  return undefined;
}

/** A TCP port: a whole number from 1 to 65535 (digits in a string are accepted). */
export function asPort(raw: unknown, what: string, report: Report): number | undefined {
  const number = typeof raw === "string" && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof number === "number" && Number.isInteger(number) && number >= 1 && number <= 65535) {
    return number;
  }
  report(`${what} must be a whole number from 1 to 65535, got ${show(raw)}`);
  return undefined;
}

const TRUE_WORDS = new Set(["true", "yes", "1", "on"]);
const FALSE_WORDS = new Set(["false", "no", "0", "off"]);

/** A boolean, or one of true/false/yes/no/on/off/1/0 in any case (how INI files and Ansible spell them). */
export function asBoolean(raw: unknown, what: string, report: Report): boolean | undefined {
  if (typeof raw === "boolean") return raw;
  const word = typeof raw === "string" || typeof raw === "number" ? String(raw).trim().toLowerCase() : "";
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  report(`${what} must be true or false, got ${show(raw)}`);
  return undefined;
}

/** One of a fixed set of words. */
export function asChoice<T extends string>(
  raw: unknown,
  choices: readonly T[],
  what: string,
  report: Report,
): T | undefined {
  const found = choices.find((choice) => choice === raw);
  if (found !== undefined) return found;
  report(`${what} must be ${choices.map((choice) => JSON.stringify(choice)).join(" or ")}, got ${show(raw)}`);
  return undefined;
}
