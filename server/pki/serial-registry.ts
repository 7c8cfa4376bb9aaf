import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import { normalizeSerial } from "./serial.js";

/**
 * Which serials were issued to which host (issued.json) and which are revoked
 * (revoked.json). Pure: parsing and updating values; the Pki writes them.
 * An entry whose certificate has expired is dropped on the next update: TLS
 * refuses an expired certificate anyway, so both files stay small.
 */
const serial = z.string().regex(/^[0-9a-f]{1,64}$/);
const issuedEntry = z.object({ serial, notAfter: z.string().datetime() }).strict();
const revokedEntry = z
  .object({
    serial,
    host: z.string().min(1),
    notAfter: z.string().datetime(),
    revokedAt: z.string().datetime(),
  })
  .strict();

export const issuedFileSchema = z
  .object({ version: z.literal(1), hosts: z.record(z.string(), z.array(issuedEntry)) })
  .strict();
export const revokedFileSchema = z.object({ version: z.literal(1), revoked: z.array(revokedEntry) }).strict();

export type IssuedFile = z.infer<typeof issuedFileSchema>;
export type RevokedFile = z.infer<typeof revokedFileSchema>;

export const emptyIssued = (): IssuedFile => ({ version: 1, hosts: {} });
export const emptyRevoked = (): RevokedFile => ({ version: 1, revoked: [] });

/** Parses one of the registry files; throws PKI_STATE_INVALID (naming the file) when it is not valid. */
export function parseRegistry<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, text: string, file: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new GroundcrewError("PKI_STATE_INVALID", `${file} is not JSON`, { cause, context: { path: file } });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new GroundcrewError("PKI_STATE_INVALID", `${file} is not a valid registry file`, {
      cause: parsed.error,
      context: { path: file },
    });
  }
  return parsed.data;
}

const live = (now: Date) => (entry: { readonly notAfter: string }) => new Date(entry.notAfter) > now;

/** `issued` with `serialHex` recorded for `host`, and expired entries dropped. */
export function recordIssued(
  issued: IssuedFile,
  host: string,
  serialHex: string,
  notAfter: Date,
  now: Date,
): IssuedFile {
  const hosts: Record<string, IssuedFile["hosts"][string]> = {};
  for (const [name, entries] of Object.entries(issued.hosts)) {
    const kept = entries.filter(live(now));
    if (kept.length > 0) hosts[name] = kept;
  }
  hosts[host] = [
    ...(hosts[host] ?? []),
    { serial: normalizeSerial(serialHex), notAfter: notAfter.toISOString() },
  ];
  return { version: 1, hosts };
}

/**
 * Adds every unexpired serial of `host` in `issued` that `revoked` does not
 * hold yet to `revoked`. `issued` is left as it is (the provisioner writes
 * it, a revoking process only reads it); `knownHost` says whether `host` has
 * ever been issued a certificate that either file still remembers.
 */
export function revokeHost(
  issued: IssuedFile,
  revoked: RevokedFile,
  host: string,
  now: Date,
): { revoked: RevokedFile; serials: string[]; knownHost: boolean } {
  const current = (issued.hosts[host] ?? []).filter(live(now));
  const already = new Set(revoked.revoked.map((entry) => entry.serial));
  const added = current
    .filter((entry) => !already.has(entry.serial))
    .map((entry) => ({ serial: entry.serial, host, notAfter: entry.notAfter, revokedAt: now.toISOString() }));
  const knownHost = issued.hosts[host] !== undefined || revoked.revoked.some((entry) => entry.host === host);
  return {
    revoked: { version: 1, revoked: [...revoked.revoked.filter(live(now)), ...added] },
    serials: added.map((entry) => entry.serial),
    knownHost,
  };
}

/**
 * `ours` with every entry of `theirs` whose serial it lacks appended: a
 * revocation seen once is never forgotten by merging. Returns the merged
 * list and the entries that were new to `ours`.
 */
export function mergeRevoked(
  ours: RevokedFile,
  theirs: RevokedFile,
): { merged: RevokedFile; added: RevokedFile["revoked"] } {
  const known = new Set(ours.revoked.map((entry) => entry.serial));
  const added = theirs.revoked.filter((entry) => !known.has(entry.serial));
  return { merged: { version: 1, revoked: [...ours.revoked, ...added] }, added };
}
