import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/** The streamed bytes are not the ones the digest names. */
export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly bytes: number,
  ) {
    super(`content hashes to ${actual} (${bytes} bytes), not ${expected}`);
    this.name = "DigestMismatchError";
  }
}

/**
 * A pass-through that hashes what flows through it and fails with
 * DigestMismatchError unless the bytes are exactly `size` long and hash to
 * `digest`. It holds back the last chunk until the check passes, so a
 * reader with a Content-Length (the registry) never receives a complete
 * wrong body. `onBytes` is told each chunk's length as it is hashed.
 */
export function digestVerifier(digest: string, size: number, onBytes: (bytes: number) => void): Transform {
  const hash = createHash("sha256");
  let count = 0;
  let held: Buffer | undefined;
  const mismatch = (): DigestMismatchError =>
    new DigestMismatchError(digest, `sha256:${hash.copy().digest("hex")}`, count);
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      hash.update(chunk);
      count += chunk.length;
      if (count > size) {
        callback(mismatch());
        return;
      }
      if (held !== undefined) this.push(held);
      held = chunk;
      onBytes(chunk.length);
      callback();
    },
    flush(callback: TransformCallback): void {
      const actual = `sha256:${hash.digest("hex")}`;
      if (count !== size || actual !== digest) {
        callback(new DigestMismatchError(digest, actual, count));
        return;
      }
      if (held !== undefined) this.push(held);
      callback();
    },
  });
}
