import { X509Certificate, createPublicKey } from "node:crypto";
import { GroundcrewError } from "../../shared/errors.js";
import { buildCaCertificate, newKeyPair, type Issuer } from "./cert-builder.js";
import type { PkiFiles } from "./pki-files.js";
import { validityFor } from "./validity.js";

export const CA_FILES = { cert: "ca-cert.pem", key: "ca-key.pem" } as const;
export const CA_VALIDITY_DAYS = 3650;

/** The CA as the Pki holds it in memory. `keyPem` is secret and never leaves the Pki. */
export interface LoadedCa extends Issuer {
  readonly x509: X509Certificate;
}

/**
 * Loads the CA from `files`, creating it (RSA-2048, 10 years) when neither of
 * its files exists. Throws PKI_STATE_INVALID, overwriting nothing, when only
 * one exists, the key is not the certificate's, or the CA has expired.
 */
export async function loadOrCreateCa(files: PkiFiles, now: Date): Promise<LoadedCa> {
  const certPem = await files.read(CA_FILES.cert);
  const keyPem = await files.read(CA_FILES.key);
  const invalid = (message: string): GroundcrewError =>
    new GroundcrewError("PKI_STATE_INVALID", message, { context: { dir: files.dir } });
  if (certPem === undefined && keyPem === undefined) {
    const keys = await newKeyPair();
    const created = buildCaCertificate(keys, "groundcrew CA", validityFor(now, CA_VALIDITY_DAYS));
    await files.write(CA_FILES.key, keys.privateKeyPem);
    await files.write(CA_FILES.cert, created);
    return { certPem: created, keyPem: keys.privateKeyPem, x509: new X509Certificate(created) };
  }
  if (certPem === undefined || keyPem === undefined) {
    const missing = certPem === undefined ? CA_FILES.cert : CA_FILES.key;
    throw invalid(`${files.dir} holds only half of the CA (${missing} is missing)`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (cause) {
    throw new GroundcrewError("PKI_STATE_INVALID", `${files.path(CA_FILES.cert)} is not a certificate`, {
      cause,
      context: { dir: files.dir },
    });
  }
  if (!x509.ca || !sameKey(certPem, keyPem)) {
    throw invalid(`${files.path(CA_FILES.key)} is not the key of the CA certificate`);
  }
  if (new Date(x509.validTo) <= now) throw invalid(`the CA in ${files.dir} expired on ${x509.validTo}`);
  return { certPem, keyPem, x509 };
}

/** Whether a private key (PEM) belongs to a certificate (PEM), comparing the public keys. */
export function sameKey(certPem: string, keyPem: string): boolean {
  try {
    const fromCert = createPublicKey(certPem).export({ type: "spki", format: "der" });
    const fromKey = createPublicKey(keyPem).export({ type: "spki", format: "der" });
    return fromCert.equals(fromKey);
  } catch {
    return false;
  }
}
