import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Transform, Writable } from "node:stream";

export interface Hashed {
  readonly size: number;
  readonly sha256: string;
}

/**
 * Consumes `source`, returning its size and sha256; with `copyTo`, also
 * writes the bytes there (the caller renames or deletes that file).
 * `onBytes` sees each chunk's length.
 */
export async function hashStream(
  source: Readable | AsyncIterable<Buffer>,
  options: { copyTo?: string; onBytes?: (bytes: number) => void } = {},
): Promise<Hashed> {
  const hash = createHash("sha256");
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      options.onBytes?.(chunk.length);
      done(null, chunk);
    },
  });
  if (options.copyTo === undefined) {
    const sink = new Writable({
      write(_chunk, _encoding, done) {
        done();
      },
    });
    await pipeline(source, tap, sink);
  } else {
    await pipeline(source, tap, createWriteStream(options.copyTo, { mode: 0o600 }));
  }
  return { size, sha256: hash.digest("hex") };
}

export function hashFile(file: string, onBytes?: (bytes: number) => void): Promise<Hashed> {
  return hashStream(createReadStream(file), onBytes === undefined ? {} : { onBytes });
}
