/**
 * A bundle-relative path that cannot escape the bundle: POSIX separators,
 * relative, no empty, "." or ".." segments, no backslashes or control
 * characters, at most 512 characters. Returns the reason it is unsafe, or
 * undefined when it is safe. Used for manifest paths and for every tar entry.
 */
export function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return "the path is empty";
  if (path.length > 512) return "the path is longer than 512 characters";
  if (path.startsWith("/")) return "the path is absolute";
  if (path.includes("\\")) return "the path holds a backslash";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return "the path holds a control character";
  const segments = path.split("/");
  if (segments.some((segment) => segment === "..")) return "the path holds a '..' segment";
  if (segments.some((segment) => segment === "" || segment === ".")) {
    return "the path holds an empty or '.' segment";
  }
  return undefined;
}
