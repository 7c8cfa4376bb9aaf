/**
 * A minimal POSIX ustar writer, written here rather than taken from the `tar`
 * package so that the exact header bytes (and so every image digest) are
 * fixed by this file and cannot change with a dependency upgrade. Every
 * header is the same whatever machine, user or clock wrote it: mtime 0,
 * uid/gid 0, empty uname/gname, device numbers 0. Paths longer than 100
 * bytes use the ustar prefix field; there are no PAX or GNU extensions.
 */

export type UstarEntry =
  | { readonly type: "file"; readonly path: string; readonly mode: number; readonly content: Uint8Array }
  | { readonly type: "directory"; readonly path: string; readonly mode: number }
  | { readonly type: "symlink"; readonly path: string; readonly linkTarget: string };

const BLOCK = 512;
const NAME_SIZE = 100;
const PREFIX_SIZE = 155;
const LINK_SIZE = 100;
const MAX_SIZE = 0o77777777777; // 11 octal digits: just under 8 GiB
const SYMLINK_MODE = 0o777;
const TYPEFLAG = { file: "0", symlink: "2", directory: "5" } as const;

/**
 * Why `path` (without the trailing "/" a folder gets) cannot be a ustar
 * name, or undefined when it can: it must fit in 100 bytes, or split at a
 * "/" into a prefix of at most 155 bytes and a name of at most 100.
 */
export function ustarPathProblem(path: string, directory: boolean): string | undefined {
  if (path.includes("\0")) return "the path holds a NUL character";
  return splitName(Buffer.from(directory ? `${path}/` : path, "utf8")) === undefined
    ? `the path is too long for a ustar header (at most ${NAME_SIZE} bytes, or a ${PREFIX_SIZE}-byte ` +
        `folder prefix and a ${NAME_SIZE}-byte rest)`
    : undefined;
}

/** Why `target` cannot be a ustar link name, or undefined when it can. */
export function ustarLinkProblem(target: string): string | undefined {
  if (target.length === 0) return "the link target is empty";
  if (target.includes("\0")) return "the link target holds a NUL character";
  if (Buffer.byteLength(target, "utf8") > LINK_SIZE) return `the link target is over ${LINK_SIZE} bytes`;
  return undefined;
}

/**
 * The bytes of a tar holding `entries` in the order given, ended by two zero
 * blocks. Folder names get a trailing "/". Throws a RangeError for an entry
 * that ustar cannot hold (callers check paths first with ustarPathProblem).
 */
export function ustarArchive(entries: readonly UstarEntry[]): Buffer {
  let total = 2 * BLOCK;
  for (const entry of entries)
    total += BLOCK + (entry.type === "file" ? padded(entry.content.byteLength) : 0);
  const out = Buffer.alloc(total);
  let offset = 0;
  for (const entry of entries) {
    writeHeader(out.subarray(offset, offset + BLOCK), entry);
    offset += BLOCK;
    if (entry.type === "file") {
      out.set(entry.content, offset);
      offset += padded(entry.content.byteLength);
    }
  }
  return out;
}

/** Sorts entries by the UTF-8 bytes of their paths, which puts every folder before what it holds. */
export function sortByPath<T extends { readonly path: string }>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) =>
    Buffer.compare(Buffer.from(a.path, "utf8"), Buffer.from(b.path, "utf8")),
  );
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function writeHeader(block: Buffer, entry: UstarEntry): void {
  const fullName = Buffer.from(entry.type === "directory" ? `${entry.path}/` : entry.path, "utf8");
  const split = splitName(fullName);
  if (split === undefined || fullName.includes(0)) {
    throw new RangeError(`tar entry ${JSON.stringify(entry.path)} cannot be written as ustar`);
  }
  const size = entry.type === "file" ? entry.content.byteLength : 0;
  if (size > MAX_SIZE) throw new RangeError(`tar entry ${JSON.stringify(entry.path)} is over 8 GiB`);
  block.set(split.name, 0);
  writeOctal(block, 100, 8, entry.type === "symlink" ? SYMLINK_MODE : entry.mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, 0); // mtime
  block.write("        ", 148, 8, "ascii"); // checksum placeholder: eight spaces
  block.write(TYPEFLAG[entry.type], 156, 1, "ascii");
  if (entry.type === "symlink") {
    const problem = ustarLinkProblem(entry.linkTarget);
    if (problem !== undefined) throw new RangeError(`tar entry ${JSON.stringify(entry.path)}: ${problem}`);
    block.write(entry.linkTarget, 157, LINK_SIZE, "utf8");
  }
  block.write("ustar\u000000", 257, 8, "ascii"); // magic "ustar\0", version "00"
  // uname (265) and gname (297) stay empty.
  writeOctal(block, 329, 8, 0); // devmajor
  writeOctal(block, 337, 8, 0); // devminor
  block.set(split.prefix, 345);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "ascii");
}

/** `width - 1` zero-padded octal digits and a NUL. */
function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, "0");
  if (!Number.isInteger(value) || value < 0 || digits.length > width - 1) {
    throw new RangeError(`${value} does not fit a ${width}-byte tar field`);
  }
  block.write(`${digits}\u0000`, offset, width, "ascii");
}

/**
 * The name as is when it fits, or split at the rightmost "/" that leaves a
 * prefix of at most 155 bytes and a non-empty rest (a folder's trailing "/"
 * stays in the rest). "/" never occurs inside a UTF-8 sequence.
 */
function splitName(full: Buffer): { readonly name: Buffer; readonly prefix: Buffer } | undefined {
  if (full.byteLength <= NAME_SIZE) return { name: full, prefix: Buffer.alloc(0) };
  const slash = full.lastIndexOf(0x2f, Math.min(PREFIX_SIZE, full.byteLength - 2));
  if (slash <= 0 || full.byteLength - slash - 1 > NAME_SIZE) return undefined;
  return { name: full.subarray(slash + 1), prefix: full.subarray(0, slash) };
}
