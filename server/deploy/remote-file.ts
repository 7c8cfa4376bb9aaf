import { createHash } from "node:crypto";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec } from "../../shared/host-io.js";

export function sha256(content: string): string {
  return createHash("sha256").update(content).digest("hex");
}

/** sha256 of a file on the host, or undefined when it is missing or unreadable. */
export async function remoteSha256(root: Exec, file: string): Promise<string | undefined> {
  return (await remoteSha256s(root, [file])).get(file);
}

/**
 * sha256 of each of `files` on the host, read by one `sha256sum` (one round
 * trip however many files); a file that is missing or unreadable, or whose
 * name sha256sum had to escape, is absent from the result.
 */
export async function remoteSha256s(root: Exec, files: readonly string[]): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const [first, ...others] = files;
  if (first === undefined) return hashes;
  const wanted = new Set(files);
  const result = await root.run(["sha256sum", "--", first, ...others]);
  for (const line of result.stdout.split("\n")) {
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    const [, hash, file] = match ?? [];
    if (hash !== undefined && file !== undefined && wanted.has(file)) hashes.set(file, hash);
  }
  return hashes;
}

/** A small file for installRemoteFiles: its path, its whole content, its mode. */
export interface RemoteFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
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
  return (await installRemoteFiles(root, host, [{ path: file, content, mode }])).size > 0;
}

/**
 * installRemoteFile for several files at once, in as few round trips as the
 * host allows: one `sha256sum` for all of them (skipped when the caller
 * passes the hashes it already read in `current`), one `mkdir` for the
 * directories of those that differ, then one `install` per file that
 * differs, its content on standard input. Resolves the paths written.
 * Throws AGENT_PUSH_FAILED naming the host and the file.
 */
export async function installRemoteFiles(
  root: Exec,
  host: string,
  files: readonly RemoteFile[],
  current?: ReadonlyMap<string, string>,
): Promise<Set<string>> {
  const hashes =
    current ??
    (await remoteSha256s(
      root,
      files.map((file) => file.path),
    ));
  const stale = files.filter((file) => hashes.get(file.path) !== sha256(file.content));
  const written = new Set<string>();
  const [first, ...others] = [...new Set(stale.map((file) => path.posix.dirname(file.path)))];
  if (first === undefined) return written;
  const dirs = await root.run(["mkdir", "-p", "-m", "0700", "--", first, ...others]);
  for (const file of stale) {
    const result =
      dirs.code === 0
        ? await root.run(["install", "-m", file.mode.toString(8).padStart(4, "0"), "/dev/stdin", file.path], {
            input: file.content,
          })
        : dirs;
    if (result.code !== 0) {
      throw new GroundcrewError(
        "AGENT_PUSH_FAILED",
        `${host}: cannot write ${file.path}: ${result.stderr.trim()}`,
        {
          context: { host, path: file.path },
        },
      );
    }
    written.add(file.path);
  }
  return written;
}
