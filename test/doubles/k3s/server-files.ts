import { mkdir } from "node:fs/promises";
import path from "node:path";
import { FatalError } from "./fatal.js";
import { readOptional, replaceWithSymlink, writeFileAtomic } from "./files.js";
import { createCa, type CertAndKey } from "./pki.js";
import { formatToken, parseToken } from "./token.js";

/** `<data-dir>/server/...`: where a server keeps its files, named as in k3s. */
export function serverPaths(dataDir: string): {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  readonly token: string;
  readonly nodeToken: string;
  readonly agentToken: string;
  readonly manifests: string;
  readonly staticDir: string;
} {
  const dir = path.join(dataDir, "server");
  return {
    dir,
    caCert: path.join(dir, "tls", "server-ca.crt"),
    caKey: path.join(dir, "tls", "server-ca.key"),
    servingCert: path.join(dir, "tls", "serving-kube-apiserver.crt"),
    servingKey: path.join(dir, "tls", "serving-kube-apiserver.key"),
    token: path.join(dir, "token"),
    nodeToken: path.join(dir, "node-token"),
    agentToken: path.join(dir, "agent-token"),
    manifests: path.join(dir, "manifests"),
    staticDir: path.join(dir, "static"),
  };
}

/** The cluster CA of server/tls/server-ca.{crt,key}, created on first start. Half of it missing is fatal. */
export async function loadOrCreateCa(dataDir: string): Promise<CertAndKey> {
  const paths = serverPaths(dataDir);
  const certPem = await readOptional(paths.caCert);
  const keyPem = await readOptional(paths.caKey);
  if (certPem !== undefined && keyPem !== undefined) return { certPem, keyPem };
  if (certPem !== undefined || keyPem !== undefined) {
    throw new FatalError(
      `${certPem === undefined ? paths.caCert : paths.caKey} is missing but the other half of the CA exists`,
    );
  }
  const ca = await createCa();
  await writeCa(dataDir, ca);
  return ca;
}

/** Writes the cluster CA (a joined server receives it from the cluster). The key is 0600. */
export async function writeCa(dataDir: string, ca: CertAndKey): Promise<void> {
  const paths = serverPaths(dataDir);
  await writeFileAtomic(paths.caKey, ca.keyPem, 0o600);
  await writeFileAtomic(paths.caCert, ca.certPem, 0o644);
}

export async function writeServingCert(dataDir: string, serving: CertAndKey): Promise<void> {
  const paths = serverPaths(dataDir);
  await writeFileAtomic(paths.servingKey, serving.keyPem, 0o600);
  await writeFileAtomic(paths.servingCert, serving.certPem, 0o644);
}

/** The password of the token this server stored on an earlier start, if any. */
export async function storedServerPassword(dataDir: string): Promise<string | undefined> {
  const text = (await readOptional(serverPaths(dataDir).token))?.trim();
  return text === undefined || text === "" ? undefined : parseToken(text, "server").password;
}

/**
 * Writes the token files as k3s does: `server/token` = K10<ca hash>::server:<password>
 * (0600), `server/node-token` a link to it, and `server/agent-token` a link to it
 * too, or, with a separate agent token, its own file K10<ca hash>::node:<password> (0600).
 */
export async function writeTokenFiles(
  dataDir: string,
  caHash: string,
  serverPassword: string,
  agentPassword: string | undefined,
): Promise<void> {
  const paths = serverPaths(dataDir);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(paths.token, `${formatToken(caHash, "server", serverPassword)}\n`, 0o600);
  await replaceWithSymlink(paths.nodeToken, paths.token);
  if (agentPassword === undefined) await replaceWithSymlink(paths.agentToken, paths.token);
  else await writeFileAtomic(paths.agentToken, `${formatToken(caHash, "node", agentPassword)}\n`, 0o600);
}
