import { createHash } from "node:crypto";

/** Bytes and their content address. JSON is serialized once, here, and these exact bytes are written. */
export interface Blob {
  readonly bytes: Buffer;
  /** "sha256:<64 hex>". */
  readonly digest: string;
  readonly size: number;
}

export function blobOf(bytes: Buffer): Blob {
  return {
    bytes,
    digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
    size: bytes.byteLength,
  };
}

/** Compact JSON, keys in the order the value was built. */
export function jsonBlob(value: unknown): Blob {
  return blobOf(Buffer.from(JSON.stringify(value), "utf8"));
}

/** The hex part of a "sha256:<hex>" digest. */
export function digestHex(digest: string): string {
  return digest.slice("sha256:".length);
}
