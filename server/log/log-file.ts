import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  writeSync,
} from "node:fs";
import path from "node:path";

/** Log files kept in `<state>/logs`: opening a new one removes the oldest beyond this. */
export const KEPT_LOG_FILES = 100;

const LOG_NAME = /^\d{8}-\d{6}-[a-z][a-z-]*-[0-9a-f]{4}\.log$/;

export function logsDir(stateDir: string): string {
  return path.join(stateDir, "logs");
}

/** One command's log file: JSON lines, appended synchronously. */
export interface LogFile {
  readonly path: string;
  /** Appends `text`. A failed write (disk full) is reported once to `onError` and later writes are dropped. */
  write(text: string): void;
  close(): void;
}

/**
 * Creates `<state>/logs/<YYYYMMDD-HHMMSS>-<command>-<hex>.log` for one
 * command run: the directory 0700, the file 0600 (set explicitly, whatever
 * the umask), created exclusively and never through a symlink. The names
 * sort by time; the oldest beyond KEPT_LOG_FILES are removed. Throws when
 * the file cannot be created.
 */
export function openLogFile(
  stateDir: string,
  command: string,
  onError: (error: unknown) => void,
  now: Date = new Date(),
): LogFile {
  const dir = logsDir(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  pruneLogs(dir, KEPT_LOG_FILES - 1);
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  const file = path.join(dir, `${stamp}-${command}-${randomBytes(2).toString("hex")}.log`);
  const fd = openSync(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND | constants.O_NOFOLLOW,
    0o600,
  );
  fchmodSync(fd, 0o600);
  let broken = false;
  let closed = false;
  return {
    path: file,
    write: (text) => {
      if (broken || closed) return;
      try {
        writeSync(fd, text);
      } catch (error) {
        broken = true;
        onError(error);
      }
    },
    close: () => {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}

/** Removes the oldest log files of `dir` (by name, which sorts by time) so that at most `keep` remain. */
function pruneLogs(dir: string, keep: number): void {
  const names = readdirSync(dir)
    .filter((name) => LOG_NAME.test(name))
    .sort();
  for (const name of names.slice(0, Math.max(0, names.length - keep))) {
    rmSync(path.join(dir, name), { force: true });
  }
}
