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
import { installRemoteFile, remoteSha256 } from "./remote-file.js";

/** A host's TLS identity. Secret (the key): never logged, travels only on SSH stdin. */
export interface HostTlsMaterial {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface InstalledAgent {
  /** True when the agent binary was sent or replaced (false: the same build was there). */
  readonly binaryChanged: boolean;
  readonly bytesSent: number;
}

/**
 * Installs the agent as a systemd unit and (re)starts it for `config.runId`:
 * binary (sent only when its sha256 differs), TLS files and config (0600,
 * rewritten only when they differ), unit, enable, restart. After this the
 * agent dials back on its own, and again after a reboot.
 * Throws GroundcrewError AGENT_PUSH_FAILED naming the host and what failed.
 */
export async function installAgent(
  connection: HostConnection,
  agent: AgentBinary,
  tls: HostTlsMaterial,
  config: AgentConfig,
): Promise<InstalledAgent> {
  const { root, host } = connection;
  let binaryChanged = false;
  let bytesSent = 0;
  if ((await remoteSha256(root, AGENT_BINARY)) !== agent.sha256) {
    const pushed = await pushAgent(connection.session, agent);
    bytesSent = pushed.bytesSent;
    await must(
      root.run(["install", "-D", "-m", "0755", pushed.remotePath, AGENT_BINARY]),
      host.name,
      "install the agent",
    );
    binaryChanged = true;
  }
  await installRemoteFile(root, host.name, config.tls.ca, tls.caPem, 0o600);
  await installRemoteFile(root, host.name, config.tls.cert, tls.certPem, 0o600);
  await installRemoteFile(root, host.name, config.tls.key, tls.keyPem, 0o600);
  await installRemoteFile(root, host.name, AGENT_CONFIG, `${JSON.stringify(config, null, 2)}\n`, 0o600);
  if (await installRemoteFile(root, host.name, AGENT_UNIT_PATH, agentUnit(), 0o644)) {
    await must(root.run(["systemctl", "daemon-reload"]), host.name, "reload systemd");
  }
  await must(
    root.run(["systemctl", "enable", "--quiet", AGENT_UNIT_NAME]),
    host.name,
    "enable the agent unit",
  );
  await must(root.run(["systemctl", "restart", AGENT_UNIT_NAME]), host.name, "start the agent unit");
  return { binaryChanged, bytesSent };
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
