import { createHash } from "node:crypto";

/** OpenSSH's fingerprint of a raw public key blob: "SHA256:" + unpadded base64 of its sha256. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key blob of an authorized_keys / *.pub line ("type base64 [comment]"). */
export function keyBlobFromLine(line: string): Buffer {
  const [type, base64] = line.trim().split(/\s+/);
  if (type === undefined || base64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) {
    throw new Error(`not an OpenSSH public key line: ${line.slice(0, 40)}`);
  }
  const blob = Buffer.from(base64, "base64");
  const typeLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (typeLength < 1 || 4 + typeLength > blob.length) {
    throw new Error(`not an OpenSSH public key line: ${line.slice(0, 40)}`);
  }
  if (blob.subarray(4, 4 + typeLength).toString("latin1") !== type) {
    throw new Error(`public key line says ${type} but its key data is of another type`);
  }
  return blob;
}

/**
 * How a connection decides whether the server's host key is the right one.
 * `accepts` runs before authentication, so a refused server never sees a
 * credential or a command.
 */
export interface HostKeyCheck {
  accepts(presented: Buffer): boolean;
  /** The keys that would have been accepted; empty on first contact. */
  readonly expected: readonly Buffer[];
  /** Runs once the connection is authenticated: a known-hosts store records a newly accepted key. */
  confirmed?(presented: Buffer): Promise<void>;
}

/** Accepts exactly these key blobs (e.g. what a lab machine generated at boot). */
export function pinnedKeys(keys: readonly Buffer[]): HostKeyCheck {
  return { accepts: (presented) => keys.some((key) => key.equals(presented)), expected: keys };
}
