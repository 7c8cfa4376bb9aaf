import Database from "better-sqlite3";
import { GroundcrewError, type ErrorCode } from "../../shared/errors.js";

/**
 * Turns SQLite failures into GroundcrewErrors. A write that fails (disk full,
 * I/O error, journal size cap, ...) is JOURNAL_WRITE_FAILED with the SQLite
 * code in `context.sqliteCode`; its transaction has been rolled back, so the
 * journal is as it was before the call. It is retryable when the cause may
 * go away (space freed, I/O recovered), not when the file itself is bad.
 */

const TRANSIENT = /^SQLITE_(FULL|IOERR|BUSY|LOCKED|NOMEM|CANTOPEN|PROTOCOL)(_|$)/;

/** The extended SQLite result code ("SQLITE_IOERR_WRITE") of a better-sqlite3 error, else undefined. */
export function sqliteCodeOf(error: unknown): string | undefined {
  return error instanceof Database.SqliteError ? error.code : undefined;
}

/**
 * What to throw for `error`, raised while writing to the journal at `path`:
 * GroundcrewErrors and non-SQLite errors unchanged, SQLite errors as `code`.
 */
export function journalFailure(
  error: unknown,
  path: string,
  operation: string,
  code: ErrorCode = "JOURNAL_WRITE_FAILED",
): unknown {
  const sqliteCode = sqliteCodeOf(error);
  if (error instanceof GroundcrewError || sqliteCode === undefined) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new GroundcrewError(
    code,
    `${operation} failed on the journal at ${path}: ${detail} (${sqliteCode})`,
    {
      cause: error,
      retryable: TRANSIENT.test(sqliteCode),
      context: { path, operation, sqliteCode },
    },
  );
}
