import { generateKeyPair, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { promisify } from "node:util";
// node-forge is CommonJS without static named exports: the default import is its namespace.
import forge from "node-forge";

const generateKeyPairAsync = promisify(generateKeyPair);

/** A certificate and its (secret) private key, PEM with LF line ends. */
export interface CertAndKey {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A fresh self-signed cluster CA (RSA-2048, 10 years), like k3s's `k3s-server-ca`. */
export async function createCa(): Promise<CertAndKey> {
  const keys = await newKeys();
  const cert = baseCertificate(keys.publicKeyPem, 3650);
  const subject = [{ name: "commonName", value: `k3s-server-ca@${Math.floor(Date.now() / 1000)}` }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keys.privateKeyPem), forge.md.sha256.create());
  return { certPem: toPem(cert), keyPem: keys.privateKeyPem };
}

/**
 * A serving certificate for the supervisor/apiserver port, signed by `ca`,
 * valid for every name and address in `sans` (IPs become IP SANs).
 */
export async function createServingCert(ca: CertAndKey, sans: readonly string[]): Promise<CertAndKey> {
  const keys = await newKeys();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const cert = baseCertificate(keys.publicKeyPem, 365);
  cert.setSubject([
    { name: "organizationName", value: "k3s" },
    { name: "commonName", value: "k3s" },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    {
      name: "subjectAltName",
      altNames: [...new Set(sans)].map((san) =>
        isIP(san) === 0 ? { type: 2, value: san } : { type: 7, ip: san },
      ),
    },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: toPem(cert), keyPem: keys.privateKeyPem };
}

async function newKeys(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const { privateKey, publicKey } = await generateKeyPairAsync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

function baseCertificate(publicKeyPem: string, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  // A positive serial: first byte below 0x80.
  cert.serialNumber = `0${randomBytes(15).toString("hex")}`;
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + days * 86_400_000);
  return cert;
}

/** forge writes CRLF line ends; the files and the CA hash use LF. */
function toPem(cert: forge.pki.Certificate): string {
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, "\n");
}
