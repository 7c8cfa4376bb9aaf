import { randomBytes } from "node:crypto";

/**
 * A fresh certificate serial: 16 random bytes as lowercase hex, with the top
 * two bits of the first byte forced to 01 (126 random bits): a DER integer is
 * signed and a serial must be positive, and with no leading zero nibble the
 * hex form reads the same from forge, OpenSSL and Node's TLS.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString("hex");
}

/**
 * The canonical form of a serial written in hex, for comparisons: lowercase,
 * no leading zeros, no colons. Node's `getPeerCertificate().serialNumber` is
 * uppercase; this makes both spellings equal. Returns "" for non-hex input.
 */
export function normalizeSerial(serialHex: string): string {
  const compact = serialHex.replace(/:/g, "").toLowerCase();
  if (!/^[0-9a-f]+$/.test(compact)) return "";
  const trimmed = compact.replace(/^0+/, "");
  return trimmed === "" ? "0" : trimmed;
}
