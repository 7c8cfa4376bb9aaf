import { X509Certificate } from "node:crypto";
import { sameKey, type LoadedCa } from "./ca-store.js";
import { sanKeysOfCertificate } from "./names.js";
import type { PkiFiles } from "./pki-files.js";
import { DAY_MS } from "./validity.js";

export const SERVER_FILES = { cert: "server-cert.pem", key: "server-key.pem" } as const;
export const SERVER_CERT_VALIDITY_DAYS = 30;
/** A server certificate with this little left, or less, is renewed. */
export const SERVER_CERT_RENEW_BEFORE_DAYS = 7;

/** The depot registry's serving certificate: long-lived, since the cluster pulls from it for years. */
export const REGISTRY_CERT = {
  files: { cert: "registry-cert.pem", key: "registry-key.pem" },
  validityDays: 825,
  renewBeforeDays: 90,
  commonName: "groundcrew depot registry",
} as const;

/** Which stored serving certificate, and when it is due for renewal. */
export interface ServingCertKind {
  readonly files: { readonly cert: string; readonly key: string };
  readonly renewBeforeDays: number;
}

const AGENT_SERVER_KIND: ServingCertKind = {
  files: SERVER_FILES,
  renewBeforeDays: SERVER_CERT_RENEW_BEFORE_DAYS,
};

export interface StoredServerCert {
  readonly certPem: string;
  /** Secret: never log it. */
  readonly keyPem: string;
  readonly x509: X509Certificate;
  /** SAN values as the certificate carries them (canonical). */
  readonly sans: readonly string[];
}

/**
 * The stored server certificate if it may be reused at `now` for `wantedSanKeys`
 * (see `sanKey`): signed by `ca`, paired with its key, already valid, more than
 * SERVER_CERT_RENEW_BEFORE_DAYS left, and carrying every wanted SAN. Anything
 * missing, unreadable or failing a check gives undefined (issue a new one).
 */
export async function reusableServerCert(
  files: PkiFiles,
  ca: LoadedCa,
  wantedSanKeys: ReadonlySet<string>,
  now: Date,
  kind: ServingCertKind = AGENT_SERVER_KIND,
): Promise<StoredServerCert | undefined> {
  const certPem = await files.read(kind.files.cert);
  const keyPem = await files.read(kind.files.key);
  if (certPem === undefined || keyPem === undefined) return undefined;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch {
    return undefined;
  }
  const has = sanKeysOfCertificate(x509.subjectAltName);
  const fits =
    x509.checkIssued(ca.x509) &&
    x509.verify(ca.x509.publicKey) &&
    sameKey(certPem, keyPem) &&
    new Date(x509.validFrom) <= now &&
    new Date(x509.validTo).getTime() - now.getTime() > kind.renewBeforeDays * DAY_MS &&
    [...wantedSanKeys].every((key) => has.has(key));
  if (!fits) return undefined;
  return { certPem, keyPem, x509, sans: [...has].map((key) => key.slice(key.indexOf(":") + 1)) };
}
