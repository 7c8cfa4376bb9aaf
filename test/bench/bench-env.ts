/**
 * Parses a benchmark's size list from the environment ("1,3,6"): positive
 * integers up to 32 (a lab's limit), kept in the given order, duplicates
 * dropped. Unset or empty gives `defaults`; anything else throws, naming the
 * value.
 */
export function benchSizes(value: string | undefined, defaults: readonly number[]): number[] {
  if (value === undefined || value.trim() === "") return [...defaults];
  const sizes = value.split(",").map((part) => part.trim());
  const parsed = sizes.map((part) => (/^[0-9]+$/.test(part) ? Number(part) : Number.NaN));
  if (parsed.some((size) => !Number.isInteger(size) || size < 1 || size > 32)) {
    throw new RangeError(`sizes must be 1 to 32, comma-separated, not "${value}"`);
  }
  return [...new Set(parsed)];
}
