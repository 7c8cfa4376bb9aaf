/**
 * What a container image built by groundcrew holds: one layer of files,
 * symlinks and folders, and the few config settings a runnable image needs.
 * Everything else in the image (created time, owners, mtimes) is fixed, so the
 * same spec always gives the same bytes (see write-archive.ts).
 */

/** The architectures groundcrew builds images for, as Debian, Go and OCI name them. */
export const IMAGE_ARCHES = ["amd64", "arm64"] as const;
export type ImageArch = (typeof IMAGE_ARCHES)[number];

/**
 * A regular file. `path` is relative to the image root ("bin/busybox"): POSIX
 * separators, no "", "." or ".." segments, no leading or trailing "/".
 * `mode` holds permission bits only (0 to 0o7777). Owned by root.
 */
export interface ImageFile {
  readonly path: string;
  readonly content: Uint8Array;
  readonly mode: number;
}

/** A symbolic link at `path` pointing at `linkTarget` (kept as given: relative or absolute). */
export interface ImageSymlink {
  readonly path: string;
  readonly linkTarget: string;
}

/**
 * A folder with a mode other than the 0o755 that every parent folder gets
 * implicitly, or an empty folder ("tmp" with 0o1777).
 */
export interface ImageDirectory {
  readonly path: string;
  readonly mode: number;
  readonly directory: true;
}

export type ImageEntry = ImageFile | ImageSymlink | ImageDirectory;

export interface ImageSpec {
  /** Full or familiar reference with an explicit tag: "docker.io/library/busybox:1.35", "busybox:1.35". */
  readonly reference: string;
  readonly files: readonly ImageEntry[];
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** "NAME=value" strings. */
  readonly env?: readonly string[];
  readonly arch: ImageArch;
}

export function isImageSymlink(entry: ImageEntry): entry is ImageSymlink {
  return "linkTarget" in entry;
}

export function isImageDirectory(entry: ImageEntry): entry is ImageDirectory {
  return "directory" in entry;
}
