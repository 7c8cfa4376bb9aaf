/**
 * RFC 7386 JSON merge patch: an object patch merges into the target (a
 * target that is not an object becomes one) key by key, `null` deleting a
 * key and nested objects merging recursively; any other patch value (array,
 * string, number, boolean) replaces the target whole. Pure: neither
 * argument is modified.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result = new Map(Object.entries(isObject(target) ? target : {}));
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) result.delete(key);
    else result.set(key, mergePatch(result.get(key), value));
  }
  return Object.fromEntries(result);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
