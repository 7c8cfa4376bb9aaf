/**
 * The two seams through which agent code touches a host. Steps and fact
 * collectors receive these instead of calling `child_process` or `fs`, so the
 * same code runs on a real host, in a lab container and against a fake in a
 * unit test.
 */

/** Result of one finished process. Non-zero exit codes are results, not errors. */
export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Text written to the child's standard input, then closed. */
  readonly input?: string;
  /**
   * Bytes streamed to standard input after `input` (with backpressure), then
   * closed: for large payloads. Exec implementations that do not support it
   * reject the call.
   */
  readonly inputStream?: AsyncIterable<Uint8Array>;
  /** Kill the child after this many milliseconds; the result then has code 124. */
  readonly timeoutMs?: number;
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs a program with an argument vector. Never a shell string: arguments are
 * passed verbatim, so data can never be interpreted as shell syntax.
 * Rejects only when the program cannot be started (e.g. ENOENT).
 */
export interface Exec {
  run(argv: readonly [string, ...string[]], options?: ExecOptions): Promise<ExecResult>;
}

export interface FsStats {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly isSymbolicLink: boolean;
  readonly size: number;
  readonly mode: number;
}

export interface FsSpace {
  readonly totalBytes: number;
  readonly availableBytes: number;
}

/**
 * Read-side file-system access. Paths are absolute. Missing paths make
 * `readText`, `readDir`, `readLink` and `statfs` reject with an error whose
 * `code` is "ENOENT".
 */
export interface ReadonlyFs {
  readText(path: string): Promise<string>;
  /** Like readText, but resolves `undefined` when the path does not exist. */
  readTextIfExists(path: string): Promise<string | undefined>;
  /** Entry names (not paths), sorted. */
  readDir(path: string): Promise<string[]>;
  readLink(path: string): Promise<string>;
  /** lstat: symbolic links are reported, not followed. `undefined` when missing. */
  stat(path: string): Promise<FsStats | undefined>;
  statfs(path: string): Promise<FsSpace>;
}

/**
 * File-system access, reads and writes. Failures reject with Node-style
 * errors carrying `code` (ENOENT, ENOSPC, EACCES…) and the path in the message.
 * Modes are permission bits (e.g. 0o644); ownership is left to the process (root).
 */
export interface Fs extends ReadonlyFs {
  /**
   * Replaces `path` whole or not at all: writes a temporary file in the same
   * directory, fsyncs it, sets `mode`, renames it over `path`, then fsyncs the
   * directory. After it resolves the content survives a crash or power loss.
   * The parent directory must exist (ENOENT otherwise).
   */
  writeFileAtomic(path: string, content: string | Uint8Array, mode: number): Promise<void>;
  /** Creates a directory and any missing parents with `mode`; an existing directory is fine. */
  mkdirp(path: string, mode: number): Promise<void>;
  /** Removes a file, a link (not its target) or a whole directory tree; a missing path is fine. */
  remove(path: string): Promise<void>;
  /** rename(2): atomic within one file system; replaces an existing file at `to`. */
  rename(from: string, to: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
}

/** A view of `fs` with only the read members: code holding it cannot write, not even through a cast. */
export function readonlyFs(fs: ReadonlyFs): ReadonlyFs {
  return {
    readText: (path) => fs.readText(path),
    readTextIfExists: (path) => fs.readTextIfExists(path),
    readDir: (path) => fs.readDir(path),
    readLink: (path) => fs.readLink(path),
    stat: (path) => fs.stat(path),
    statfs: (path) => fs.statfs(path),
  };
}
