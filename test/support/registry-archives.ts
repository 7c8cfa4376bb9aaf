import { writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { ImageArchive } from "../../agent/registry/image-archive.js";
import { tarBytes, type TarMember } from "./registry-tar.js";

/** Writes `members` as `<dir>/<name>` (gzip-compressed when `gzip`); returns the path. */
export async function writeArchive(
  dir: string,
  name: string,
  members: readonly TarMember[],
  options: { gzip?: boolean } = {},
): Promise<string> {
  const file = path.join(dir, name);
  const tar = tarBytes(members);
  await writeFile(file, options.gzip ? gzipSync(tar) : tar);
  return file;
}

/** The whole of one blob as the archive streams it. */
export async function blobBytes(archive: ImageArchive, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of archive.openBlob(digest)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
