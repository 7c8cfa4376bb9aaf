import { createInterface } from "node:readline";
import { GroundcrewError } from "../../shared/errors.js";
import { Secret } from "../../shared/secret.js";
import type { Inventory, InventoryHost } from "../inventory/types.js";

/** Reads one line from the terminal without echoing it. */
export type AskSecret = (question: string) => Promise<Secret>;

/**
 * The sudo password of every host that needs one and has it neither in the
 * file (opted in) nor in its environment variable: asked once per SSH user,
 * before any host is touched. Throws SUDO_PASSWORD_MISSING naming the host
 * when a password is needed and cannot be asked for (no terminal, no prompt).
 */
export async function resolveSudoPasswords(
  inventory: Inventory,
  env: NodeJS.ProcessEnv,
  ask: AskSecret | undefined,
): Promise<ReadonlyMap<string, Secret>> {
  const byUser = new Map<string, Secret>();
  const passwords = new Map<string, Secret>();
  for (const host of inventory.hosts) {
    const found = knownPassword(host, env);
    if (found !== "none") {
      if (found !== undefined) passwords.set(host.name, found);
      continue;
    }
    const cached = byUser.get(host.ssh.user);
    if (cached !== undefined) {
      passwords.set(host.name, cached);
      continue;
    }
    if (host.sudo.mode === "password" && host.sudo.prompt && ask !== undefined) {
      const secret = await ask(`sudo password for ${host.ssh.user} (${host.name}): `);
      byUser.set(host.ssh.user, secret);
      passwords.set(host.name, secret);
      continue;
    }
    const variable = host.sudo.mode === "password" ? host.sudo.passwordEnv : undefined;
    throw new GroundcrewError(
      "SUDO_PASSWORD_MISSING",
      `${host.name}: sudo needs a password: ${variable === undefined ? "set sudo.passwordEnv or sudo.prompt" : `set ${variable}`}` +
        (host.sudo.mode === "password" && host.sudo.prompt ? " (no terminal to ask on)" : ""),
      { context: { host: host.name } },
    );
  }
  return passwords;
}

/** The host's password when it is known without asking; undefined when none is needed; "none" when it must be asked. */
function knownPassword(host: InventoryHost, env: NodeJS.ProcessEnv): Secret | undefined | "none" {
  if (host.ssh.user === "root" || host.sudo.mode === "passwordless") return undefined;
  if (host.sudo.value !== undefined) return host.sudo.value;
  const fromEnv = host.sudo.passwordEnv === undefined ? undefined : env[host.sudo.passwordEnv];
  return fromEnv === undefined || fromEnv === "" ? "none" : new Secret(fromEnv);
}

/** Asks on the controlling terminal with echo off; undefined when stdin is not a terminal. */
export function terminalAsker(): AskSecret | undefined {
  if (!process.stdin.isTTY) return undefined;
  return (question) =>
    new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      const output = rl as unknown as { _writeToOutput: (text: string) => void };
      process.stderr.write(question);
      output._writeToOutput = () => undefined;
      rl.question("", (answer) => {
        rl.close();
        process.stderr.write("\n");
        resolve(new Secret(answer));
      });
    });
}
