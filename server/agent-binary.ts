import { access } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { GroundcrewError } from "../shared/errors.js";
import { hashFile, type AgentBinary } from "./ssh/push-agent.js";

/** File name of the agent executable built for this machine's architecture. */
export function agentFileName(arch: string = process.arch): string {
  return `groundcrew-agent-linux-${arch}`;
}

/**
 * Finds the agent executable: $GROUNDCREW_AGENT_BINARY, else the one
 * `npm run build` put in dist/ beside the compiled CLI (or beside the sources
 * when running from them). Throws AGENT_PUSH_FAILED telling how to build it.
 */
export async function locateAgentBinary(env: NodeJS.ProcessEnv = process.env): Promise<AgentBinary> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const explicit = env["GROUNDCREW_AGENT_BINARY"];
  const candidates =
    explicit !== undefined && explicit !== ""
      ? [path.resolve(explicit)]
      : [path.resolve(here, "..", agentFileName()), path.resolve(here, "..", "dist", agentFileName())];
  for (const candidate of candidates) {
    try {
      await access(candidate);
      return { path: candidate, sha256: await hashFile(candidate) };
    } catch {
      continue;
    }
  }
  throw new GroundcrewError(
    "AGENT_PUSH_FAILED",
    `no agent executable at ${candidates.join(" or ")}: run \`npm run build\` first`,
  );
}
