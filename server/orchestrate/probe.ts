import { isGroundcrewError } from "../../shared/errors.js";
import { gatherFacts } from "../facts/gather.js";
import type { HostProbe } from "../preflight/types.js";
import type { AgentBinary, TransferProgress } from "../ssh/push-agent.js";
import type { HostConnection } from "./host-session.js";

/**
 * Proves sudo works, then pushes the agent (cache dir only) and reads facts,
 * measuring the host clock against ours around the call. Changes nothing on
 * the host but the agent's cache.
 */
export async function probeHost(
  connection: HostConnection,
  agent: AgentBinary,
  onTransfer?: TransferProgress,
): Promise<HostProbe> {
  const sudo = await connection.root.run(["true"], { timeoutMs: 20_000 });
  if (sudo.code !== 0) {
    return { ok: false, failedAt: "sudo", reason: firstLine(sudo.stderr) || `sudo exited with ${sudo.code}` };
  }
  try {
    const gathered = await gatherFacts(connection.session, connection.root, agent, onTransfer);
    return {
      ok: true,
      facts: gathered.facts,
      clockSkewMs: provenSkew(
        Date.parse(gathered.facts.collectedAt) - gathered.midpointMs,
        gathered.uncertaintyMs,
      ),
      agentPath: gathered.agent.remotePath,
    };
  } catch (error) {
    const reason = isGroundcrewError(error) || error instanceof Error ? error.message : String(error);
    return { ok: false, failedAt: "agent", reason };
  }
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}

/**
 * The part of a measured clock offset that the measurement cannot explain:
 * the host read its clock somewhere within ± uncertainty of our midpoint, so
 * only what lies beyond that is certainly skew (a slow, loaded host must not
 * look unsynchronised).
 */
export function provenSkew(measuredMs: number, uncertaintyMs: number): number {
  const beyond = Math.max(0, Math.abs(measuredMs) - uncertaintyMs);
  return Math.sign(measuredMs) * beyond;
}
