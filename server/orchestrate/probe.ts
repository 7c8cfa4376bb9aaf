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
  const before = Date.now();
  try {
    const gathered = await gatherFacts(connection.session, connection.root, agent, onTransfer);
    const midpoint = (before + Date.now()) / 2;
    return {
      ok: true,
      facts: gathered.facts,
      clockSkewMs: Date.parse(gathered.facts.collectedAt) - midpoint,
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
