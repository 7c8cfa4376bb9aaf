import { open, type FileHandle } from "node:fs/promises";
import { GroundcrewError } from "../../shared/errors.js";
import { safeEntryName, safeLinkTarget } from "./tar-names.js";

/** One member of an uncompressed tar: where its data lies in the file. Directories are not kept. */
export interface TarEntry {
  /** Normalized relative path: no "./", no "..", no trailing "/". */
  readonly name: string;
  readonly kind: "file" | "symlink" | "hardlink";
  /** Byte offset of the data in the tar file. */
  readonly offset: number;
  readonly size: number;
  /** For links: the normalized archive path the link points at. */
  readonly target?: string;
}

const BLOCK = 512;
const MAX_ENTRIES = 200_000;
const MAX_META_BYTES = 1024 * 1024;

/** A typed error naming the archive (`label`) and, where known, the entry. */
export function archiveError(label: string, message: string, entry?: string): GroundcrewError {
  const where = entry === undefined ? label : `${label}: entry ${JSON.stringify(entry)}`;
  return new GroundcrewError("IMAGE_ARCHIVE_INVALID", `${where}: ${message}`, {
    context: { archive: label, ...(entry === undefined ? {} : { entry: entry.slice(0, 300) }) },
  });
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString("utf8");
}

/** A numeric header field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function numeric(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if ((field[0] ?? 0) & 0x80) {
    let value = (field[0] ?? 0) & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const digits = text(block, start, length).trim();
  if (!/^[0-7]*$/.test(digits)) return Number.NaN;
  return digits === "" ? 0 : parseInt(digits, 8);
}

function checksumOk(block: Buffer): boolean {
  const stored = numeric(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** PAX extended header records: "<len> <key>=<value>\n". Only path, linkpath and size matter here. */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = space === -1 ? Number.NaN : Number(data.subarray(at, space).toString("ascii"));
    if (!Number.isInteger(length) || length <= 0 || at + length > data.length) break;
    const record = data.subarray(space + 1, at + length - 1).toString("utf8");
    const equals = record.indexOf("=");
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

/**
 * Indexes an uncompressed tar by reading its headers only (ustar, GNU long
 * names, PAX path/size). Refuses, with IMAGE_ARCHIVE_INVALID naming `label`
 * and the entry: a file whose first block is not a tar header, a damaged or
 * truncated archive, absolute or "../" names and link targets, and a name
 * that appears twice.
 */
export async function indexTar(file: string, label: string): Promise<Map<string, TarEntry>> {
  const handle = await open(file, "r");
  try {
    const fileSize = (await handle.stat()).size;
    const entries = new Map<string, TarEntry>();
    let position = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax = new Map<string, string>();
    for (let count = 0; position + BLOCK <= fileSize; count++) {
      if (count > MAX_ENTRIES) throw archiveError(label, `holds more than ${MAX_ENTRIES} tar entries`);
      const block = await readAt(handle, position, BLOCK);
      if (block.every((byte) => byte === 0)) break;
      if (!checksumOk(block)) {
        throw archiveError(
          label,
          position === 0 ? "is not a tar archive" : `tar header at byte ${position} is damaged`,
        );
      }
      const type = String.fromCharCode(block[156] ?? 0);
      const ustar = text(block, 257, 6) === "ustar" && text(block, 263, 2) === "00";
      const prefix = ustar ? text(block, 345, 155) : "";
      const rawName =
        longName ?? pax.get("path") ?? (prefix === "" ? "" : `${prefix}/`) + text(block, 0, 100);
      const size = pax.has("size") ? Number(pax.get("size")) : numeric(block, 124, 12);
      const offset = position + BLOCK;
      if (!Number.isSafeInteger(size) || size < 0 || offset + size > fileSize) {
        throw archiveError(label, "is truncated or has a damaged size field", rawName);
      }
      position = offset + Math.ceil(size / BLOCK) * BLOCK;
      if (type === "x" || type === "L" || type === "K") {
        if (size > MAX_META_BYTES) throw archiveError(label, "has an oversized tar extended header", rawName);
        const data = await readAt(handle, offset, size);
        if (type === "x") pax = paxRecords(data);
        else if (type === "L") longName = text(data, 0, data.length);
        else longLink = text(data, 0, data.length);
        continue;
      }
      const rawLink = longLink ?? pax.get("linkpath") ?? text(block, 157, 100);
      longName = undefined;
      longLink = undefined;
      pax = new Map();
      if (type === "g" || type === "5") continue;
      const name = safeEntryName(rawName, label);
      const kind =
        type === "0" || type === "\0" || type === "7"
          ? "file"
          : type === "1"
            ? "hardlink"
            : type === "2"
              ? "symlink"
              : undefined;
      if (kind === undefined || name === "") continue;
      if (entries.has(name)) throw archiveError(label, "appears twice in the archive", name);
      const target =
        kind === "file"
          ? undefined
          : kind === "hardlink"
            ? safeEntryName(rawLink, label)
            : safeLinkTarget(name, rawLink, label);
      entries.set(name, {
        name,
        kind,
        offset,
        size: kind === "file" ? size : 0,
        ...(target === undefined ? {} : { target }),
      });
    }
    if (entries.size === 0 && position === 0) throw archiveError(label, "is not a tar archive (no entries)");
    return entries;
  } finally {
    await handle.close();
  }
}

/** The regular file an entry name finally refers to, following links; undefined when it is absent. */
export function resolveEntry(
  entries: ReadonlyMap<string, TarEntry>,
  name: string,
  label: string,
): TarEntry | undefined {
  let current = entries.get(name);
  for (let hops = 0; current !== undefined && current.kind !== "file"; hops++) {
    if (hops > 16 || current.target === undefined) throw archiveError(label, "is a link loop", name);
    current = entries.get(current.target);
  }
  return current;
}
