import { GroundcrewError } from "../../shared/errors.js";
import type { AgentConfig } from "../../shared/agent-config.js";
import type { HostConnection } from "../orchestrate/host-session.js";
import { pushAgent, type AgentBinary } from "../ssh/push-agent.js";
import {
  AGENT_BINARY,
  AGENT_CONFIG,
  AGENT_TLS_DIR,
  AGENT_UNIT_NAME,
  AGENT_UNIT_PATH,
  agentUnit,
} from "./layout.js";
import { installRemoteFiles, remoteSha256s, type RemoteFile } from "./remote-file.js";

/** A host's TLS identity. Secret (the key): never logged, travels only on SSH stdin. */
export interface HostTlsMaterial {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface InstalledAgent {
  /** True when the agent binary was sent or replaced (false: the same build was there). */
  readonly binaryChanged: boolean;
  /** True when the CA certificate, the host certificate or its key was rewritten (a new certificate: always on a fresh install). */
  readonly tlsChanged: boolean;
  readonly bytesSent: number;
}

/**
 * Installs the agent as a systemd unit and (re)starts it for `config.runId`:
 * binary (sent only when its sha256 differs), TLS files and config (0600,
 * rewritten only when they differ), unit, enable, restart. After this the
 * agent dials back on its own, and again after a reboot.
 *
 * Every command is a round trip (and a sudo) per host, and systemd reloads
 * are slow on a busy host, so: one `sha256sum` reads the binary's and every
 * file's hash, one `mkdir` makes the directories of those that differ, and
 * the unit is enabled (`--no-reload`) and systemd reloaded once, only when
 * the unit file was written or `is-enabled` does not say "enabled" (a plain
 * `enable` reloads systemd every time, even when the unit already was).
 * When nothing changed that is three commands: the hashes, is-enabled,
 * restart.
 * Throws GroundcrewError AGENT_PUSH_FAILED naming the host and what failed.
 */
export async function installAgent(
  connection: HostConnection,
  agent: AgentBinary,
  tls: HostTlsMaterial,
  config: AgentConfig,
): Promise<InstalledAgent> {
  const { root, host } = connection;
  const tlsFiles: RemoteFile[] = [
    { path: config.tls.ca, content: tls.caPem, mode: 0o600 },
    { path: config.tls.cert, content: tls.certPem, mode: 0o600 },
    { path: config.tls.key, content: tls.keyPem, mode: 0o600 },
  ];
  const files: RemoteFile[] = [
    ...tlsFiles,
    { path: AGENT_CONFIG, content: `${JSON.stringify(config, null, 2)}\n`, mode: 0o600 },
    { path: AGENT_UNIT_PATH, content: agentUnit(), mode: 0o644 },
  ];
  const hashes = await remoteSha256s(root, [AGENT_BINARY, ...files.map((file) => file.path)]);
  let binaryChanged = false;
  let bytesSent = 0;
  if (hashes.get(AGENT_BINARY) !== agent.sha256) {
    const pushed = await pushAgent(connection.session, agent);
    bytesSent = pushed.bytesSent;
    await must(
      root.run(["install", "-D", "-m", "0755", pushed.remotePath, AGENT_BINARY]),
      host.name,
      "install the agent",
    );
    binaryChanged = true;
  }
  const written = await installRemoteFiles(root, host.name, files, hashes);
  const tlsChanged = tlsFiles.some((file) => written.has(file.path));
  // A unit file just written is enabled again (its [Install] may have changed); only "enabled" (not
  // "enabled-runtime", which a reboot forgets) counts as enabled.
  const enabled =
    !written.has(AGENT_UNIT_PATH) &&
    (await root.run(["systemctl", "is-enabled", AGENT_UNIT_NAME])).stdout.trim() === "enabled";
  if (!enabled) {
    await must(
      root.run(["systemctl", "enable", "--quiet", "--no-reload", AGENT_UNIT_NAME]),
      host.name,
      "enable the agent unit",
    );
    await must(root.run(["systemctl", "daemon-reload"]), host.name, "reload systemd");
  }
  await must(root.run(["systemctl", "restart", AGENT_UNIT_NAME]), host.name, "start the agent unit");
  return { binaryChanged, tlsChanged, bytesSent };
}

export const AGENT_TLS_FILES = {
  ca: `${AGENT_TLS_DIR}/ca.pem`,
  cert: `${AGENT_TLS_DIR}/host.pem`,
  key: `${AGENT_TLS_DIR}/host-key.pem`,
} as const;

async function must(
  pending: Promise<{ code: number; stderr: string }>,
  host: string,
  what: string,
): Promise<void> {
  const result = await pending;
  if (result.code !== 0) {
    throw new GroundcrewError("AGENT_PUSH_FAILED", `${host}: cannot ${what}: ${result.stderr.trim()}`, {
      context: { host },
    });
  }
}
