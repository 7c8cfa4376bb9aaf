import { readOptional, writeFileAtomic } from "./files.js";
import { randomPassword } from "./token.js";

/** Where k3s keeps this machine's node password; uninstall leaves it behind. */
export const NODE_PASSWORD_FILE = "/etc/rancher/node/password";

/**
 * This machine's node password: the one in /etc/rancher/node/password, or a
 * new random one written there (0600) when the file is absent or empty. The
 * server remembers it per node name; a node registering under a name that
 * another password holds is refused.
 */
export async function nodePassword(): Promise<string> {
  const existing = (await readOptional(NODE_PASSWORD_FILE))?.trim();
  if (existing !== undefined && existing !== "") return existing;
  const created = randomPassword();
  await writeFileAtomic(NODE_PASSWORD_FILE, `${created}\n`, 0o600);
  return created;
}
