import { readFile } from "node:fs/promises";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec } from "../../shared/host-io.js";
import { withSudo, withSudoPassword } from "../../shared/with-sudo.js";
import { Secret } from "../../shared/secret.js";
import type { Redactor } from "../../shared/redactor.js";
import { errorFields, silentLogger, type Logger } from "../log/logger.js";
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
  /** Sudo passwords by host name (resolveSudoPasswords), for hosts whose sudo needs one. */
  readonly sudoPasswords?: ReadonlyMap<string, Secret>;
  /** The run's Redactor: learns the SSH private key read from the host's key file. */
  readonly redactor?: Redactor;
  /** Diagnostics; each host's session logs under a child with `host` bound. */
  readonly log?: Logger;
}

/**
 * Opens an SSH session to an inventory host with its key (or ssh-agent),
 * host keys checked against the pinned store, and picks the root wrapper its
 * sudo settings call for. Secrets (key, sudo password) stay in memory, and
 * the key is added to the run's Redactor.
 */
export async function connectHost(host: InventoryHost, options: ConnectOptions): Promise<HostConnection> {
  const log = (options.log ?? silentLogger).child({ host: host.name });
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
  if (privateKey !== undefined) options.redactor?.add(new Secret(privateKey));
  const session = await SshSession.connect({
    name: host.name,
    host: host.address,
    port: host.ssh.port,
    username: host.ssh.user,
    ...(privateKey === undefined ? {} : { privateKey }),
    hostKeys: options.knownHosts.checkFor(host.address, host.ssh.port, options.acceptNewHostKeys),
    log,
  }).catch((error: unknown) => {
    log.warn(errorFields(error), "ssh connection failed");
    throw error;
  });
  if (host.ssh.user === "root") return { host, session, root: session };
  const sudo = host.sudo.mode === "passwordless" ? "sudo -n" : "sudo -S (password on stdin)";
  log.debug({ sudo }, "commands run as root through sudo");
  return { host, session, root: rootExec(session, host, options.sudoPasswords?.get(host.name)) };
}

function rootExec(session: SshSession, host: InventoryHost, password: Secret | undefined): Exec {
  if (host.sudo.mode === "passwordless") return withSudo(session);
  if (password === undefined) {
    throw new GroundcrewError(
      "SUDO_PASSWORD_MISSING",
      `${host.name}: sudo needs a password and none was resolved`,
      {
        context: { host: host.name },
      },
    );
  }
  return withSudoPassword(session, password);
}
