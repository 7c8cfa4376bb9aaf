import { constants, gzipSync } from "node:zlib";

const OS_BYTE = 9;
const OS_UNKNOWN = 255;

/**
 * gzip of `bytes` with a header that says nothing about where or when it was
 * made: mtime 0, no file name or comment, and OS "unknown" (255, as Go's
 * compress/gzip writes it; zlib would put the build platform's code there).
 * The compressed bytes depend only on the input and on zlib's deflate at
 * level 9, so they are the same on every run with the same Node (a zlib
 * upgrade may change them, which changes the layer's digest but never its
 * diff_id).
 */
export function deterministicGzip(bytes: Uint8Array): Buffer {
  const out = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION });
  // No FHCRC flag is set, so the header can be changed without a checksum to fix.
  out[OS_BYTE] = OS_UNKNOWN;
  return out;
}
