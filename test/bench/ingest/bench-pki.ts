import { X509Certificate } from "node:crypto";
import { z } from "zod";
import { CA_FILES, loadOrCreateCa } from "../../../server/pki/ca-store.js";
import { buildLeafCertificate, newKeyPair, type KeyPairPem } from "../../../server/pki/cert-builder.js";
import { HOST_CERT_VALIDITY_DAYS } from "../../../server/pki/pki.js";
import { PkiFiles } from "../../../server/pki/pki-files.js";
import { SERVER_CERT_VALIDITY_DAYS } from "../../../server/pki/server-cert-store.js";
import { validityFor } from "../../../server/pki/validity.js";

/**
 * Certificates for load tests: the provisioner's CA (created and loaded by
 * the product's ca-store), a server certificate for 127.0.0.1 and one host
 * certificate per simulated agent, all built by the product's cert-builder,
 * so the TLS handshakes and peer checks are the real ones.
 *
 * Two shortcuts keep 1,000 hosts affordable, neither of which changes what a
 * handshake costs: every leaf shares one RSA-2048 key pair (the product makes
 * one per host, ~0.1 s each), and certificates are kept in `dir` and reused
 * while valid for another day (forge signs each one in ~20-40 ms of
 * JavaScript). `issued` says how many a call had to sign.
 */

export interface BenchTls {
  readonly caPem: string;
  readonly server: { readonly certPem: string; readonly keyPem: string };
  /** The key every host certificate carries (secret in the product; a throwaway here). */
  readonly hostKeyPem: string;
  readonly hostCerts: ReadonlyMap<string, string>;
  /** Certificates signed by this call (the rest came from `dir`). */
  readonly issued: number;
  readonly issueSeconds: number;
}

const CACHE_FILE = "bench-leaves.json";
const MIN_REMAINING_MS = 24 * 60 * 60 * 1000;

const cacheSchema = z
  .object({
    caPem: z.string(),
    keyPair: z.object({ privateKeyPem: z.string(), publicKeyPem: z.string() }).strict(),
    serverCertPem: z.string(),
    hostCerts: z.record(z.string(), z.string()),
  })
  .strict();

type Cache = z.infer<typeof cacheSchema>;

async function readCache(files: PkiFiles, caPem: string): Promise<Cache | undefined> {
  const text = await files.read(CACHE_FILE);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = cacheSchema.safeParse(json);
  return parsed.success && parsed.data.caPem === caPem ? parsed.data : undefined;
}

function stillValid(certPem: string, now: Date): boolean {
  try {
    return new Date(new X509Certificate(certPem).validTo).getTime() - now.getTime() > MIN_REMAINING_MS;
  } catch {
    return false;
  }
}

/** The CA, server certificate and a certificate per host of `hosts`, from `dir` where possible. */
export async function benchTls(dir: string, hosts: readonly string[]): Promise<BenchTls> {
  const started = process.hrtime.bigint();
  const now = new Date();
  const files = await PkiFiles.open(dir, [...Object.values(CA_FILES), CACHE_FILE]);
  const ca = await loadOrCreateCa(files, now);
  const caNotAfter = new Date(ca.x509.validTo);
  const cached = await readCache(files, ca.certPem);
  const keyPair: KeyPairPem = cached?.keyPair ?? (await newKeyPair());
  let issued = 0;
  let serverCertPem = cached?.serverCertPem;
  if (serverCertPem === undefined || !stillValid(serverCertPem, now)) {
    serverCertPem = buildLeafCertificate(
      keyPair.publicKeyPem,
      { kind: "server", commonName: "groundcrew provisioner", sans: [{ kind: "ip", value: "127.0.0.1" }] },
      validityFor(now, SERVER_CERT_VALIDITY_DAYS, caNotAfter),
      ca,
    );
    issued += 1;
  }
  const hostCerts = new Map<string, string>();
  for (const host of hosts) {
    const stored = cached?.hostCerts[host];
    if (stored !== undefined && stillValid(stored, now)) {
      hostCerts.set(host, stored);
      continue;
    }
    const certPem = buildLeafCertificate(
      keyPair.publicKeyPem,
      { kind: "host", commonName: host },
      validityFor(now, HOST_CERT_VALIDITY_DAYS, caNotAfter),
      ca,
    );
    hostCerts.set(host, certPem);
    issued += 1;
  }
  if (issued > 0 || cached === undefined) {
    const cache: Cache = {
      caPem: ca.certPem,
      keyPair,
      serverCertPem,
      hostCerts: { ...cached?.hostCerts, ...Object.fromEntries(hostCerts) },
    };
    await files.write(CACHE_FILE, JSON.stringify(cache));
  }
  return {
    caPem: ca.certPem,
    server: { certPem: serverCertPem, keyPem: keyPair.privateKeyPem },
    hostKeyPem: keyPair.privateKeyPem,
    hostCerts,
    issued,
    issueSeconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}
