import { GroundcrewError } from "../../shared/errors.js";
import { hostFactsSchema, type HostFacts } from "../../shared/facts.js";
import type { Exec } from "../../shared/host-io.js";
import { pushAgent, type AgentBinary, type PushedAgent, type TransferProgress } from "../ssh/push-agent.js";
import type { SshSession } from "../ssh/session.js";

export interface GatheredFacts {
  readonly facts: HostFacts;
  readonly agent: PushedAgent;
  /** Our clock (ms) halfway through the facts command: compare with facts.collectedAt for the host's clock offset. */
  readonly midpointMs: number;
  /** Half the command's duration: the host read its clock within ± this of the midpoint. */
  readonly uncertaintyMs: number;
}

/**
 * Pushes the agent (if the host lacks this build) and runs `facts` as root
 * through `root` (the session wrapped in sudo, or the session itself for root logins).
 * The host's answer crosses a trust boundary: it is parsed and validated, and
 * a malformed answer is an error naming the host, never a partial result.
 */
export async function gatherFacts(
  session: SshSession,
  root: Exec,
  agent: AgentBinary,
  onTransfer?: TransferProgress,
): Promise<GatheredFacts> {
  const host = session.target.name;
  const pushed = await pushAgent(session, agent, onTransfer);
  const before = Date.now();
  const result = await root.run([pushed.remotePath, "facts"], { timeoutMs: 60_000 });
  const after = Date.now();
  const midpointMs = (before + after) / 2;
  if (result.code !== 0) {
    throw new GroundcrewError(
      "SSH_COMMAND_FAILED",
      `${host}: the agent's facts command exited with ${result.code}: ${result.stderr.trim().slice(0, 500)}`,
      { context: { host } },
    );
  }
  let document: unknown;
  try {
    document = JSON.parse(result.stdout);
  } catch (cause) {
    throw new GroundcrewError("FACTS_UNREADABLE", `${host}: the agent's facts are not JSON`, {
      cause,
      context: { host },
    });
  }
  const parsed = hostFactsSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GroundcrewError(
      "FACTS_UNREADABLE",
      `${host}: the agent's facts are malformed at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "?"}`,
      { context: { host } },
    );
  }
  return { facts: parsed.data, agent: pushed, midpointMs, uncertaintyMs: (after - before) / 2 };
}
