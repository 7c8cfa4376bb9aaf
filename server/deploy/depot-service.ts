import { GroundcrewError } from "../../shared/errors.js";
import type { DepotConfig } from "../../shared/depot-config.js";
import type { Exec } from "../../shared/host-io.js";
import { AGENT_TLS_FILES } from "./install-agent.js";
import { DEPOT_CONFIG, DEPOT_PORT, DEPOT_UNIT_NAME, DEPOT_UNIT_PATH, depotUnit } from "./layout.js";
import { installRemoteFile } from "./remote-file.js";

/** The depot's config: the agent's own TLS files, the whole fleet allowed to fetch. */
export function depotConfig(fleet: readonly string[]): DepotConfig {
  return { port: DEPOT_PORT, tls: { ...AGENT_TLS_FILES }, allowedHosts: [...fleet] };
}

/**
 * Installs and (re)starts the depot unit on `host` (the agent and its TLS
 * files must be installed). Restarted only when its config or unit changed,
 * the agent binary or its TLS files changed (`agentChanged`: the depot reads
 * the agent's certificate once, at start, and must not go on serving one
 * that was replaced and will expire), or it is not running, so fetches in
 * flight are not cut for nothing.
 * Throws AGENT_PUSH_FAILED naming the host.
 */
export async function startDepotService(
  root: Exec,
  host: string,
  config: DepotConfig,
  agentChanged: boolean,
): Promise<void> {
  const configChanged = await installRemoteFile(
    root,
    host,
    DEPOT_CONFIG,
    `${JSON.stringify(config, null, 2)}\n`,
    0o600,
  );
  const unitChanged = await installRemoteFile(root, host, DEPOT_UNIT_PATH, depotUnit(), 0o644);
  if (unitChanged) await must(root, host, ["systemctl", "daemon-reload"], "reload systemd");
  await must(root, host, ["systemctl", "enable", "--quiet", DEPOT_UNIT_NAME], "enable the depot unit");
  const active = await root.run(["systemctl", "is-active", "--quiet", DEPOT_UNIT_NAME]);
  if (configChanged || unitChanged || agentChanged || active.code !== 0) {
    await must(root, host, ["systemctl", "restart", DEPOT_UNIT_NAME], "start the depot unit");
  }
}

async function must(root: Exec, host: string, argv: [string, ...string[]], what: string): Promise<void> {
  const result = await root.run(argv);
  if (result.code !== 0) {
    throw new GroundcrewError("AGENT_PUSH_FAILED", `${host}: cannot ${what}: ${result.stderr.trim()}`, {
      context: { host },
    });
  }
}
