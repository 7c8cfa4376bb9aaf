import type { Redactor } from "../../shared/redactor.js";

/**
 * `value` (parsed JSON) with every string in it, keys included, passed
 * through `redactor`, at any depth. Non-JSON values do not occur: the input
 * is what JSON.parse returned.
 */
export function deepRedact(value: unknown, redactor: Redactor): unknown {
  if (typeof value === "string") return redactor.redact(value);
  if (Array.isArray(value)) return value.map((item) => deepRedact(item, redactor));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [redactor.redact(key), deepRedact(item, redactor)]),
    );
  }
  return value;
}
