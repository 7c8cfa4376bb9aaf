import { stepCheckSchema, type StepCheck } from "../../agent/commands/check-plan.js";
import { GroundcrewError } from "../../shared/errors.js";
import { parseFrame, type Plan } from "../../shared/protocol.js";
import type { HostConnection } from "./host-session.js";

/**
 * What `up` would do on one host, from the steps' own checks run by the
 * agent (already in its cache from `check`). Changes nothing on the host.
 */
export async function dryRunHost(
  connection: HostConnection,
  agentPath: string,
  plan: Plan,
): Promise<StepCheck[]> {
  const result = await connection.root.run([agentPath, "check-plan"], {
    input: JSON.stringify(plan),
    timeoutMs: 120_000,
  });
  if (result.code !== 0) {
    throw new GroundcrewError(
      "SSH_COMMAND_FAILED",
      `${connection.host.name}: check-plan exited with ${result.code}: ${result.stderr.trim().slice(0, 500)}`,
      { context: { host: connection.host.name } },
    );
  }
  return result.stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const parsed = parseFrame(stepCheckSchema, line);
      if (!parsed.ok) {
        throw new GroundcrewError(
          "FACTS_UNREADABLE",
          `${connection.host.name}: check-plan printed ${parsed.error}`,
        );
      }
      return parsed.value;
    });
}
