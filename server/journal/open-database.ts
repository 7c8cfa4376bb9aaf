import { existsSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { GroundcrewError } from "../../shared/errors.js";
import { ensurePrivateDir, ensurePrivateFile, tightenSidecars } from "./file-modes.js";
import { JournalLock } from "./lock.js";
import { applyMigrations, checkSchemaVersion } from "./migrations.js";
import { sqliteCodeOf } from "./sqlite-errors.js";

/**
 * Opening the journal's SQLite database, writable or read-only.
 *
 * Writable: directory created 0700, lock taken (JOURNAL_IN_USE otherwise),
 * file created 0600, WAL + synchronous=FULL + foreign keys, migrations
 * applied. Any failure releases the lock again and closes the database.
 *
 * Read-only: no lock (SQLite's WAL lets readers run beside the one writer),
 * no migration: the schema must be exactly this build's version.
 */

/** How long a statement waits for a lock held by another connection (checkpoints, WAL recovery). */
export const BUSY_TIMEOUT_MS = 1_000;

export interface OpenedDatabase {
  readonly db: Database.Database;
  /** null for a read-only open. */
  readonly lock: JournalLock | null;
}

function openFailure(error: unknown, journalPath: string): GroundcrewError {
  if (error instanceof GroundcrewError) return error;
  const sqliteCode = sqliteCodeOf(error);
  const errno =
    error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
  const detail = error instanceof Error ? error.message : String(error);
  return new GroundcrewError("JOURNAL_OPEN_FAILED", `cannot open the journal at ${journalPath}: ${detail}`, {
    cause: error,
    context: {
      path: journalPath,
      ...(sqliteCode === undefined ? {} : { sqliteCode }),
      ...(errno === undefined || sqliteCode !== undefined ? {} : { errno }),
    },
  });
}

function configure(
  db: Database.Database,
  journalPath: string,
  writable: boolean,
  maxSizeBytes?: number,
): void {
  if (writable) {
    const mode: unknown = db.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") {
      throw new GroundcrewError(
        "JOURNAL_OPEN_FAILED",
        `cannot open the journal at ${journalPath}: SQLite refused WAL mode (got ${String(mode)})`,
        { context: { path: journalPath } },
      );
    }
  } else {
    db.pragma("query_only = ON");
  }
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma(`busy_timeout = ${String(BUSY_TIMEOUT_MS)}`);
  if (maxSizeBytes !== undefined) {
    const pageSize: unknown = db.pragma("page_size", { simple: true });
    if (typeof pageSize !== "number" || pageSize <= 0) throw new Error("SQLite reported no page size");
    db.pragma(`max_page_count = ${String(Math.max(1, Math.floor(maxSizeBytes / pageSize)))}`);
  }
}

export function openDatabase(
  journalPath: string,
  options: { readonly readonly: boolean; readonly maxSizeBytes?: number; readonly now: () => Date },
): OpenedDatabase {
  if (
    options.maxSizeBytes !== undefined &&
    !(Number.isSafeInteger(options.maxSizeBytes) && options.maxSizeBytes > 0)
  ) {
    throw new GroundcrewError("JOURNAL_INVALID", "maxSizeBytes must be a positive integer", {
      context: { path: journalPath },
    });
  }

  if (options.readonly) {
    if (!existsSync(journalPath)) {
      throw new GroundcrewError("JOURNAL_NOT_FOUND", `there is no journal at ${journalPath} yet`, {
        context: { path: journalPath },
      });
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(journalPath, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      configure(db, journalPath, false, options.maxSizeBytes);
      checkSchemaVersion(db, journalPath);
      return { db, lock: null };
    } catch (error) {
      db?.close();
      throw openFailure(error, journalPath);
    }
  }

  try {
    ensurePrivateDir(path.dirname(journalPath));
  } catch (error) {
    throw openFailure(error, journalPath);
  }
  const lock = JournalLock.acquire(journalPath);
  let db: Database.Database | undefined;
  try {
    ensurePrivateFile(journalPath);
    db = new Database(journalPath, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    configure(db, journalPath, true, options.maxSizeBytes);
    applyMigrations(db, journalPath, options.now);
    tightenSidecars(journalPath);
    return { db, lock };
  } catch (error) {
    db?.close();
    lock.release();
    throw openFailure(error, journalPath);
  }
}
