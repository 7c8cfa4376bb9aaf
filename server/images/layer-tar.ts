import { isImageDirectory, isImageSymlink, type ImageEntry } from "./image-spec.js";
import { sortByPath, ustarArchive, type UstarEntry } from "./ustar.js";

const PARENT_MODE = 0o755;

/**
 * The uncompressed layer tar of `entries` (checked by checkImageSpec): every
 * entry plus a 0o755 folder entry for each parent not given explicitly,
 * sorted by path (so a folder precedes its content), with the fixed headers
 * of ustar.ts. The same entries in any order give the same bytes.
 */
export function layerTar(entries: readonly ImageEntry[]): Buffer {
  const byPath = new Map<string, UstarEntry>();
  for (const entry of entries) {
    byPath.set(
      entry.path,
      isImageSymlink(entry)
        ? { type: "symlink", path: entry.path, linkTarget: entry.linkTarget }
        : isImageDirectory(entry)
          ? { type: "directory", path: entry.path, mode: entry.mode }
          : { type: "file", path: entry.path, mode: entry.mode, content: entry.content },
    );
  }
  for (const entry of entries) {
    const segments = entry.path.split("/");
    for (let depth = 1; depth < segments.length; depth++) {
      const parent = segments.slice(0, depth).join("/");
      if (!byPath.has(parent)) byPath.set(parent, { type: "directory", path: parent, mode: PARENT_MODE });
    }
  }
  return ustarArchive(sortByPath([...byPath.values()]));
}
