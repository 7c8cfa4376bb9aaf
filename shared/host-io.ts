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
 * Read-side file-system access (write operations arrive with the steps that need them).
 * Paths are absolute. Missing paths make `readText`, `readDir`, `readLink`
 * and `statfs` reject with an error whose `code` is "ENOENT".
 */
export interface Fs {
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
