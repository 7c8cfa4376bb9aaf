import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import type { z } from "zod";
import { archiveError, resolveEntry, type TarEntry } from "./tar-index.js";
import { safeEntryName } from "./tar-names.js";

/** sha256 of bytes as an OCI digest, "sha256:<hex>". */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * Read access to one indexed, uncompressed tar. `label` (the archive as the
 * caller named it) goes into every error message. Reads are positioned; the
 * tar is never loaded whole.
 */
export class ArchiveSource {
  constructor(
    readonly label: string,
    readonly tarPath: string,
    private readonly entries: ReadonlyMap<string, TarEntry>,
  ) {}

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The regular file behind `name` (normalized like entry names: "./a" is
   * "a"; links followed); undefined when absent. A name from an index file
   * that is absolute or climbs ("../x") is refused (IMAGE_ARCHIVE_INVALID).
   */
  file(name: string): TarEntry | undefined {
    return resolveEntry(this.entries, safeEntryName(name, this.label), this.label);
  }

  /** The whole data of an entry, refused with IMAGE_ARCHIVE_INVALID when over `maxBytes`. */
  async bytes(entry: TarEntry, maxBytes: number): Promise<Buffer> {
    if (entry.size > maxBytes) {
      throw archiveError(this.label, `is ${entry.size} bytes, more than the ${maxBytes} allowed`, entry.name);
    }
    const buffer = Buffer.alloc(entry.size);
    const handle = await open(this.tarPath, "r");
    try {
      const { bytesRead } = await handle.read(buffer, 0, entry.size, entry.offset);
      if (bytesRead !== entry.size) throw archiveError(this.label, "is truncated", entry.name);
    } finally {
      await handle.close();
    }
    return buffer;
  }

  /** Parses an entry as JSON and validates it; IMAGE_ARCHIVE_INVALID naming the entry otherwise. */
  async json<T>(
    entry: TarEntry,
    schema: z.ZodType<T, z.ZodTypeDef, unknown>,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; value: T }> {
    const bytes = await this.bytes(entry, maxBytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString("utf8"));
    } catch {
      throw archiveError(this.label, "is not valid JSON", entry.name);
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue === undefined ? "" : ` at ${issue.path.join(".") || "(root)"}: ${issue.message}`;
      throw archiveError(this.label, `is not the expected document${where}`, entry.name);
    }
    return { bytes, value: result.data };
  }

  /** The entry's bytes as a stream (a range of the tar file). */
  stream(entry: TarEntry): NodeJS.ReadableStream {
    if (entry.size === 0) return Readable.from([]);
    return createReadStream(this.tarPath, { start: entry.offset, end: entry.offset + entry.size - 1 });
  }

  /** sha256 of an entry's data, streamed. */
  async digestOf(entry: TarEntry): Promise<string> {
    const hash = createHash("sha256");
    for await (const chunk of this.stream(entry)) hash.update(chunk);
    return `sha256:${hash.digest("hex")}`;
  }

  /** The first bytes of an entry (for magic numbers). */
  async head(entry: TarEntry, length: number): Promise<Buffer> {
    return this.bytes({ ...entry, size: Math.min(length, entry.size) }, length);
  }
}
