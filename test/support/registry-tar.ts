/**
 * A tiny ustar writer for tests: full control over entry names (hostile
 * ones included), links and order, which a real tar tool would sanitize.
 */
export interface TarMember {
  readonly name: string;
  readonly body?: Uint8Array | string;
  readonly type?: "file" | "dir" | "symlink" | "hardlink";
  readonly linkname?: string;
}

const BLOCK = 512;
const TYPE_FLAGS = { file: "0", dir: "5", symlink: "2", hardlink: "1" } as const;

function writeText(block: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > length) throw new Error(`tar field too long: ${value}`);
  bytes.copy(block, offset);
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  writeText(block, offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
}

/** Splits a long name into ustar prefix/name at a "/"; names of 100 bytes or less stay whole. */
function splitName(name: string): { prefix: string; name: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: "", name };
  for (let at = name.indexOf("/"); at !== -1; at = name.indexOf("/", at + 1)) {
    const prefix = name.slice(0, at);
    const rest = name.slice(at + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100) return { prefix, name: rest };
  }
  throw new Error(`name too long for ustar: ${name}`);
}

function header(member: TarMember, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const { prefix, name } = splitName(member.name);
  writeText(block, 0, 100, name);
  writeOctal(block, 100, 8, member.type === "dir" ? 0o755 : 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, 0);
  block.fill(0x20, 148, 156);
  writeText(block, 156, 1, TYPE_FLAGS[member.type ?? "file"]);
  writeText(block, 157, 100, member.linkname ?? "");
  writeText(block, 257, 6, "ustar");
  writeText(block, 263, 2, "00");
  writeText(block, 345, 155, prefix);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeText(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** The bytes of a tar holding `members` in order, ended by two zero blocks. */
export function tarBytes(members: readonly TarMember[]): Buffer {
  const parts: Buffer[] = [];
  for (const member of members) {
    const body =
      member.type === "file" || member.type === undefined ? Buffer.from(member.body ?? "") : Buffer.alloc(0);
    parts.push(header(member, body.length), body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
