import { readFile } from "node:fs/promises";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec } from "../../shared/host-io.js";
import { withSudo, withSudoPassword } from "../../shared/with-sudo.js";
import type { InventoryHost } from "../inventory/types.js";
import type { KnownHosts } from "../ssh/known-hosts.js";
import { SshSession } from "../ssh/session.js";

export interface HostConnection {
  readonly host: InventoryHost;
  readonly session: SshSession;
  /** Runs commands as root on the host (sudo unless the login is root). */
  readonly root: Exec;
}

export interface ConnectOptions {
  readonly knownHosts: KnownHosts;
  readonly acceptNewHostKeys: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Opens an SSH session to an inventory host with its key (or ssh-agent),
 * host keys checked against the pinned store, and picks the root wrapper its
 * sudo settings call for. Secrets (key, sudo password) stay in memory.
 */
export async function connectHost(host: InventoryHost, options: ConnectOptions): Promise<HostConnection> {
  const privateKey =
    host.ssh.keyFile === undefined
      ? undefined
      : await readFile(host.ssh.keyFile, "utf8").catch((cause: unknown) => {
          throw new GroundcrewError(
            "SSH_CONNECT_FAILED",
            `${host.name}: cannot read SSH key ${host.ssh.keyFile ?? ""}`,
            {
              cause,
              context: { host: host.name },
            },
          );
        });
  const session = await SshSession.connect({
    name: host.name,
    host: host.address,
    port: host.ssh.port,
    username: host.ssh.user,
    ...(privateKey === undefined ? {} : { privateKey }),
    hostKeys: options.knownHosts.checkFor(host.address, host.ssh.port, options.acceptNewHostKeys),
  });
  return { host, session, root: rootExec(session, host, options.env ?? process.env) };
}

function rootExec(session: SshSession, host: InventoryHost, env: NodeJS.ProcessEnv): Exec {
  if (host.ssh.user === "root") return session;
  if (host.sudo.mode === "passwordless") return withSudo(session);
  const fromEnv = host.sudo.passwordEnv === undefined ? undefined : env[host.sudo.passwordEnv];
  const password = host.sudo.value ?? (fromEnv === undefined ? undefined : { reveal: () => fromEnv });
  if (password === undefined) {
    throw new GroundcrewError(
      "SUDO_PASSWORD_MISSING",
      `${host.name}: sudo needs a password: set ${host.sudo.passwordEnv ?? "the variable named by sudo.passwordEnv"}`,
      { context: { host: host.name } },
    );
  }
  return withSudoPassword(session, password);
}
