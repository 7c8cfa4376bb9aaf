import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import { silentLogger } from "../log/logger.js";
import type { SshSession } from "./session.js";

export interface AgentBinary {
  readonly path: string;
  readonly sha256: string;
}

export interface PushedAgent {
  /** Absolute path of the agent on the host. */
  readonly remotePath: string;
  /** False when the same build was already there (nothing sent). */
  readonly uploaded: boolean;
  readonly bytesSent: number;
}

/** Where the agent lives on a host: the login account's cache, named by build hash. */
export const AGENT_CACHE_DIR = ".cache/groundcrew/agent";

export async function hashFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Makes sure the host has this agent build, sending it only when missing or
 * different. The upload lands under a temporary name, is verified by sha256 on
 * the host, and only then renamed into place, so a cut connection never
 * leaves a truncated agent under the final name.
 * Throws GroundcrewError AGENT_PUSH_FAILED naming the host.
 */
export type TransferProgress = (bytesDone: number, bytesTotal: number) => void;

export async function pushAgent(
  session: SshSession,
  agent: AgentBinary,
  onProgress?: TransferProgress,
): Promise<PushedAgent> {
  const host = session.target.name;
  const log = session.target.log ?? silentLogger;
  const dir = path.posix.join(await session.homeDirectory(), AGENT_CACHE_DIR);
  const remotePath = path.posix.join(dir, `groundcrew-agent-${agent.sha256.slice(0, 16)}`);
  if ((await remoteSha256(session, remotePath)) === agent.sha256) {
    log.debug({ remotePath }, "agent build already on the host");
    return { remotePath, uploaded: false, bytesSent: 0 };
  }
  const started = Date.now();
  const made = await session.run(["mkdir", "-p", "-m", "700", "--", dir]);
  if (made.code !== 0) {
    throw new GroundcrewError("AGENT_PUSH_FAILED", `${host}: cannot create ${dir}: ${made.stderr.trim()}`, {
      context: { host },
    });
  }
  const partial = `${remotePath}.partial-${randomBytes(4).toString("hex")}`;
  await session.upload(agent.path, partial, 0o755, onProgress);
  const arrived = await remoteSha256(session, partial);
  if (arrived !== agent.sha256) {
    await session.run(["rm", "-f", "--", partial]);
    log.warn({ expected: agent.sha256, arrived: arrived ?? "unknown" }, "agent arrived corrupted");
    throw new GroundcrewError(
      "AGENT_PUSH_FAILED",
      `${host}: the agent arrived with sha256 ${arrived ?? "unknown"}, expected ${agent.sha256}`,
      { context: { host }, retryable: true },
    );
  }
  const moved = await session.run(["mv", "-f", "--", partial, remotePath]);
  if (moved.code !== 0) {
    throw new GroundcrewError(
      "AGENT_PUSH_FAILED",
      `${host}: cannot place the agent: ${moved.stderr.trim()}`,
      {
        context: { host },
      },
    );
  }
  const bytesSent = (await stat(agent.path)).size;
  log.info({ remotePath, bytes: bytesSent, sha256: agent.sha256, ms: Date.now() - started }, "agent pushed");
  return { remotePath, uploaded: true, bytesSent };
}

async function remoteSha256(session: SshSession, file: string): Promise<string | undefined> {
  const result = await session.run(["sha256sum", "--", file]);
  if (result.code !== 0) return undefined;
  return /^([0-9a-f]{64})\s/.exec(result.stdout)?.[1];
}
