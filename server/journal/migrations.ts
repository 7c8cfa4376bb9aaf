import type Database from "better-sqlite3";
import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import { parseRow } from "./rows.js";
import { MIGRATIONS } from "./schema.js";

/**
 * Versioned schema migrations. The schema_migrations table has one row per
 * applied migration; the highest version is the database's schema version
 * (0 for a new, empty file).
 */

const CREATE_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY NOT NULL CHECK (version >= 1),
    applied_at TEXT NOT NULL
  ) STRICT`;

const tableRow = z.object({ present: z.number().int() }).strict();
const versionRow = z.object({ version: z.number().int().min(0) }).strict();

/** The database's schema version; 0 when it has no schema_migrations table. Works read-only. */
export function schemaVersion(db: Database.Database): number {
  const table = parseRow(
    tableRow,
    db
      .prepare(
        "SELECT count(*) AS present FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
      )
      .get(),
    "sqlite_master",
  );
  if (table.present === 0) return 0;
  return parseRow(
    versionRow,
    db.prepare("SELECT coalesce(max(version), 0) AS version FROM schema_migrations").get(),
    "schema_migrations",
  ).version;
}

function tooNew(path: string, found: number, supported: number): GroundcrewError {
  return new GroundcrewError(
    "JOURNAL_SCHEMA_TOO_NEW",
    `the journal at ${path} has schema version ${String(found)}, written by a newer groundcrew; this groundcrew supports up to version ${String(supported)}: upgrade groundcrew to use it`,
    { context: { path, found, supported } },
  );
}

/**
 * Refuses a database this build cannot use: newer than `migrations` (always),
 * or older (only for read-only opens, which cannot migrate).
 */
export function checkSchemaVersion(
  db: Database.Database,
  path: string,
  migrations: readonly string[] = MIGRATIONS,
): void {
  const found = schemaVersion(db);
  if (found > migrations.length) throw tooNew(path, found, migrations.length);
  if (found < migrations.length) {
    throw new GroundcrewError(
      "JOURNAL_SCHEMA_OUTDATED",
      `the journal at ${path} has schema version ${String(found)} and needs version ${String(migrations.length)}; run a groundcrew command that writes the journal (such as \`up\`) to upgrade it`,
      { context: { path, found, supported: migrations.length } },
    );
  }
}

/**
 * Brings the database to `migrations.length`, applying every missing
 * migration in order inside one IMMEDIATE transaction (all or nothing).
 * Refuses a newer database before touching anything. Returns the version
 * found before migrating.
 */
export function applyMigrations(
  db: Database.Database,
  path: string,
  now: () => Date,
  migrations: readonly string[] = MIGRATIONS,
): number {
  const migrate = db.transaction((): number => {
    db.exec(CREATE_MIGRATIONS_TABLE);
    const found = schemaVersion(db);
    if (found > migrations.length) throw tooNew(path, found, migrations.length);
    const record = db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
    for (let version = found + 1; version <= migrations.length; version += 1) {
      const sql = migrations[version - 1];
      if (sql === undefined) break;
      db.exec(sql);
      record.run(version, now().toISOString());
    }
    return found;
  });
  return migrate.immediate();
}
