import { chmodSync, closeSync, constants, existsSync, fchmodSync, mkdirSync, openSync } from "node:fs";

/**
 * The journal holds what every host did; only its owner may read it. Its
 * directory is created 0700, the database file and SQLite's -wal / -shm
 * sidecars are 0600 (SQLite gives the sidecars the database file's mode when
 * it creates them; `tightenSidecars` makes sure of it). Modes are set
 * explicitly, so they do not depend on the umask.
 */

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Creates `dir` (and missing parents) 0700. An existing directory is left as it is. */
export function ensurePrivateDir(dir: string): void {
  if (existsSync(dir)) return;
  const first = mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  if (first !== undefined) chmodSync(dir, DIR_MODE);
}

/** Creates the database file 0600 if missing, and makes an existing one 0600. Does not follow a symlink. */
export function ensurePrivateFile(path: string): void {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE);
  try {
    fchmodSync(fd, FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/** Makes the -wal and -shm files of `dbPath` 0600 where they exist. */
export function tightenSidecars(dbPath: string): void {
  for (const suffix of ["-wal", "-shm"]) {
    try {
      chmodSync(`${dbPath}${suffix}`, FILE_MODE);
    } catch {
      // Not there (yet): SQLite creates it with the database file's mode.
    }
  }
}
