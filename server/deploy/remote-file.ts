import { createHash } from "node:crypto";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec } from "../../shared/host-io.js";

export function sha256(content: string): string {
  return createHash("sha256").update(content).digest("hex");
}

/** sha256 of a file on the host, or undefined when it is missing or unreadable. */
export async function remoteSha256(root: Exec, file: string): Promise<string | undefined> {
  const result = await root.run(["sha256sum", "--", file]);
  return result.code === 0 ? /^([0-9a-f]{64})\s/.exec(result.stdout)?.[1] : undefined;
}

/**
 * Writes a small file as root with the given mode, only when its content
 * differs (compared by sha256). The content travels on standard input, never
 * in an argument list, so key material never shows in `ps` or a log.
 * Resolves true when the file was written.
 */
export async function installRemoteFile(
  root: Exec,
  host: string,
  file: string,
  content: string,
  mode: number,
): Promise<boolean> {
  if ((await remoteSha256(root, file)) === sha256(content)) return false;
  const dir = await root.run(["mkdir", "-p", "-m", "0700", "--", path.posix.dirname(file)]);
  const written =
    dir.code === 0
      ? await root.run(["install", "-m", mode.toString(8).padStart(4, "0"), "/dev/stdin", file], {
          input: content,
        })
      : dir;
  if (written.code !== 0) {
    throw new GroundcrewError(
      "AGENT_PUSH_FAILED",
      `${host}: cannot write ${file}: ${written.stderr.trim()}`,
      {
        context: { host, path: file },
      },
    );
  }
  return true;
}
