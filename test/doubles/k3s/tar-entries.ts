const BLOCK = 512;

/** One regular file of a tar archive. */
export interface TarFile {
  readonly name: string;
  readonly body: Buffer;
}

/** A tar archive that cannot be read; the message is Go's archive/tar wording. */
export class TarError extends Error {
  override readonly name = "TarError";
}

/**
 * The regular files of a tar archive (ustar, GNU or PAX, as `helm package`
 * and Go's archive/tar write them), with PAX `path` and GNU long names
 * applied. Directories and links are skipped. Throws TarError on a damaged
 * header or a truncated archive.
 */
export function tarFiles(archive: Buffer): TarFile[] {
  const files: TarFile[] = [];
  let longName: string | undefined;
  for (let offset = 0; offset + BLOCK <= archive.length;) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return files;
    if (!checksumMatches(header)) throw new TarError("archive/tar: invalid tar header");
    const size = octal(header.subarray(124, 136));
    const type = String.fromCharCode(header[156] ?? 0);
    const bodyStart = offset + BLOCK;
    if (bodyStart + size > archive.length) throw new TarError("unexpected EOF");
    const body = archive.subarray(bodyStart, bodyStart + size);
    offset = bodyStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x") {
      longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString("utf8"))?.[1] ?? longName;
      continue;
    }
    if (type === "L") {
      longName = body.toString("utf8").replace(/\0+$/, "");
      continue;
    }
    const prefix = text(header.subarray(345, 500));
    const name =
      longName ??
      (prefix === "" ? text(header.subarray(0, 100)) : `${prefix}/${text(header.subarray(0, 100))}`);
    longName = undefined;
    if (type === "0" || type === "\0" || type === "7") files.push({ name, body: Buffer.from(body) });
  }
  return files;
}

function text(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString("utf8");
}

function octal(field: Buffer): number {
  const value = text(field).trim();
  if (!/^[0-7]*$/.test(value)) throw new TarError("archive/tar: invalid tar header");
  return value === "" ? 0 : parseInt(value, 8);
}

function checksumMatches(header: Buffer): boolean {
  let sum = 0;
  for (let index = 0; index < BLOCK; index += 1)
    sum += index >= 148 && index < 156 ? 0x20 : (header[index] ?? 0);
  const recorded = text(header.subarray(148, 156)).trim();
  return /^[0-7]+$/.test(recorded) && parseInt(recorded, 8) === sum;
}
