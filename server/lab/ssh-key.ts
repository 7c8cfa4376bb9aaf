// ssh2 is CommonJS without static named exports: Node's ESM loader needs the default import.
import ssh2 from "ssh2";

export interface SshKeyPair {
  /** OpenSSH private key (PEM-like "OPENSSH PRIVATE KEY" block). Secret: never log it. */
  readonly privateKey: string;
  /** One authorized_keys line. */
  readonly publicKey: string;
}

/** A fresh ed25519 key pair for one lab; it is never reused across labs. */
export function generateLabKey(comment: string): SshKeyPair {
  const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment });
  return { privateKey: pair.private, publicKey: `${pair.public.trim()}\n` };
}
