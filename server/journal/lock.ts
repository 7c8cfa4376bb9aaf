import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { GroundcrewError } from "../../shared/errors.js";
import { liveness, ownIdentity, type ProcessIdentity } from "../process-identity.js";

/**
 * The single-writer lock of a journal: a file beside the database, created
 * with O_EXCL, holding "<pid> <starttime>\n" of its owner (starttime is field
 * 22 of /proc/<pid>/stat, "?" where unknown).
 *
 * - A live owner (same pid and same start time) means JOURNAL_IN_USE; this
 *   includes the calling process itself if it already holds the lock.
 * - A lock whose owner is gone (exited, killed, pid reused by another
 *   process) is stale and taken over.
 * - A lock file whose content cannot be parsed is treated as being written
 *   right now if it is younger than FRESH_MS (in use), stale otherwise.
 *
 * Takeover renames the stale file aside and checks it is still the very file
 * (inode) that was judged stale; if a competitor replaced it meanwhile, the
 * competitor's lock is put back and the attempt starts over. Release removes
 * the file only while it still holds this owner's content.
 */

const FRESH_MS = 5_000;
const MAX_ATTEMPTS = 8;

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

export function formatLockContent(identity: ProcessIdentity): string {
  return `${String(identity.pid)} ${identity.startTime ?? "?"}\n`;
}

export function parseLockContent(content: string): ProcessIdentity | null {
  const match = /^(\d{1,10}) (\d{1,20}|\?)\n?$/.exec(content);
  const pid = match?.[1];
  const startTime = match?.[2];
  if (pid === undefined || startTime === undefined) return null;
  const pidNumber = Number(pid);
  if (!Number.isSafeInteger(pidNumber) || pidNumber <= 0) return null;
  return { pid: pidNumber, startTime: startTime === "?" ? null : startTime };
}

interface Holder {
  readonly ino: number;
  readonly mtimeMs: number;
  readonly content: string;
}

/** Reads the lock file and its inode through one descriptor; null if it vanished. */
function readHolder(lockPath: string): Holder | null {
  let fd: number;
  try {
    fd = openSync(lockPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return null;
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    return { ino: stat.ino, mtimeMs: stat.mtimeMs, content: readFileSync(fd, "utf8") };
  } finally {
    closeSync(fd);
  }
}

function inUse(journalPath: string, lockPath: string, pid: number | null): GroundcrewError {
  return new GroundcrewError(
    "JOURNAL_IN_USE",
    `the journal at ${journalPath} is in use by another groundcrew process (pid ${pid === null ? "unknown" : String(pid)})`,
    { context: { path: journalPath, lockPath, ...(pid === null ? {} : { pid }) } },
  );
}

/** Creates the lock file with O_EXCL; false if it already exists. */
function tryCreate(lockPath: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(
      lockPath,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw error;
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(lockPath);
    throw error;
  }
  closeSync(fd);
  return true;
}

/** Moves the stale lock (inode `ino`) out of the way, leaving any other file in place. */
function removeStale(lockPath: string, ino: number): void {
  const aside = `${lockPath}.stale-${String(process.pid)}-${randomBytes(4).toString("hex")}`;
  try {
    renameSync(lockPath, aside);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return; // someone else removed it first
    throw error;
  }
  if (lstatSync(aside).ino !== ino) {
    // A competitor took over between our check and our rename: give it back.
    try {
      linkSync(aside, lockPath);
    } catch (error) {
      if (errorCode(error) !== "EEXIST") throw error;
    }
  }
  unlinkSync(aside);
}

export class JournalLock {
  private released = false;

  private constructor(
    /** Path of the lock file. */
    readonly path: string,
    private readonly content: string,
  ) {}

  /**
   * Takes the lock for the journal at `journalPath`, or throws
   * JOURNAL_IN_USE (with the owner's pid) or JOURNAL_OPEN_FAILED.
   */
  static acquire(journalPath: string, lockPath = `${journalPath}.lock`): JournalLock {
    const content = formatLockContent(ownIdentity());
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
        if (tryCreate(lockPath, content)) return new JournalLock(lockPath, content);
        const holder = readHolder(lockPath);
        if (holder === null) continue; // released meanwhile: try again
        const owner = parseLockContent(holder.content);
        if (owner === null) {
          if (Date.now() - holder.mtimeMs < FRESH_MS) throw inUse(journalPath, lockPath, null);
        } else if (liveness(owner) === "alive") {
          throw inUse(journalPath, lockPath, owner.pid);
        }
        removeStale(lockPath, holder.ino);
      }
    } catch (error) {
      if (error instanceof GroundcrewError) throw error;
      throw new GroundcrewError("JOURNAL_OPEN_FAILED", `cannot take the journal lock ${lockPath}`, {
        cause: error,
        context: { path: journalPath, lockPath, errno: errorCode(error) ?? "unknown" },
      });
    }
    // Only reachable when competitors keep replacing the file under us.
    throw inUse(journalPath, lockPath, null);
  }

  /** Removes the lock file if it is still ours. Idempotent; never throws. */
  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      const holder = readHolder(this.path);
      if (holder?.content === this.content) unlinkSync(this.path);
    } catch {
      // Nothing useful to do: a leftover lock of a gone process is stale and will be taken over.
    }
  }
}
