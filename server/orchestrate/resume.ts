import { agentConfigSchema } from "../../shared/agent-config.js";
import { parseFrame } from "../../shared/protocol.js";
import { AGENT_CONFIG, AGENT_UNIT_NAME } from "../deploy/layout.js";
import type { Journal, RunSummary } from "../journal/index.js";
import type { HostConnection } from "./host-session.js";

/**
 * The unfinished apply run of this inventory with the same hosts, if the
 * provisioner died during it: `up` then resumes it instead of starting anew.
 */
export function unfinishedRun(
  journal: Journal,
  inventory: string,
  hosts: readonly string[],
): RunSummary | undefined {
  const latest = journal.latestRun();
  if (latest === undefined || latest.outcome !== null || latest.action !== "apply") return undefined;
  if (latest.inventory !== inventory) return undefined;
  const same = latest.hosts.length === hosts.length && hosts.every((host) => latest.hosts.includes(host));
  return same ? latest : undefined;
}

/** True when the host's agent unit is running for `runId`: it will dial back by itself. */
export async function agentServes(connection: HostConnection, runId: string): Promise<boolean> {
  const active = await connection.root.run(["systemctl", "is-active", "--quiet", AGENT_UNIT_NAME]);
  if (active.code !== 0) return false;
  const config = await connection.root.run(["cat", AGENT_CONFIG]);
  if (config.code !== 0) return false;
  const parsed = parseFrame(agentConfigSchema, config.stdout);
  return parsed.ok && parsed.value.runId === runId;
}
