import { GroundcrewError } from "../../shared/errors.js";

/**
 * Entry names of an image archive are never extracted, but an archive that
 * names "../x" or "/etc/x" is not something docker or an OCI tool wrote:
 * it is refused whole rather than interpreted.
 */
function unsafe(label: string, raw: string, why: string): GroundcrewError {
  return new GroundcrewError("IMAGE_ARCHIVE_INVALID", `${label}: entry ${JSON.stringify(raw)} ${why}`, {
    context: { archive: label, entry: raw.slice(0, 300) },
  });
}

/** Path segments with "" and "." dropped; throws on ".." (names never climb). */
function segments(path: string, label: string, raw: string): string[] {
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw unsafe(label, raw, "has an unsafe name: it contains '..'");
  return parts;
}

/**
 * Normalizes a tar entry name to "a/b/c" (leading "./" and trailing "/"
 * dropped). Throws IMAGE_ARCHIVE_INVALID for absolute names, ".."
 * segments and control characters.
 */
export function safeEntryName(raw: string, label: string): string {
  if (raw.startsWith("/")) throw unsafe(label, raw, "has an unsafe name: it is absolute");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw unsafe(label, raw, "has an unsafe name: control characters");
  return segments(raw, label, raw).join("/");
}

/**
 * The archive path a symbolic link at `name` points at, resolved against
 * the link's directory (docker save links repeated layers as
 * "../<id>/layer.tar"). Throws IMAGE_ARCHIVE_INVALID when the target is
 * absolute or climbs out of the archive.
 */
export function safeLinkTarget(name: string, rawTarget: string, label: string): string {
  if (rawTarget.startsWith("/"))
    throw unsafe(label, name, `links to an absolute path ${JSON.stringify(rawTarget)}`);
  const resolved = name.split("/").slice(0, -1);
  for (const part of rawTarget.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") resolved.push(part);
    else if (resolved.pop() === undefined) {
      throw unsafe(label, name, `links out of the archive to ${JSON.stringify(rawTarget)}`);
    }
  }
  return resolved.join("/");
}
