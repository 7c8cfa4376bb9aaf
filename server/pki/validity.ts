import type { Validity } from "./cert-builder.js";
import { randomSerial } from "./serial.js";

export const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates are valid from an hour before issue: a host whose clock lags a little still accepts them. */
const BACKDATE_MS = 60 * 60 * 1000;

/**
 * A new serial and validity period of `days` from `now` (whole seconds, as
 * X.509 stores them), ending no later than `notAfterCap` (a leaf never
 * outlives its CA).
 */
export function validityFor(now: Date, days: number, notAfterCap?: Date): Validity {
  const start = Math.floor(now.getTime() / 1000) * 1000;
  const end = start + days * DAY_MS;
  const cap = notAfterCap?.getTime() ?? Infinity;
  return {
    serial: randomSerial(),
    notBefore: new Date(start - BACKDATE_MS),
    notAfter: new Date(Math.min(end, cap)),
  };
}
