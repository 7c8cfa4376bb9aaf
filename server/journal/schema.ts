/**
 * The journal's schema, as an ordered list of migrations: migration i (0-based)
 * brings the database to schema version i + 1. Append new migrations at the
 * end; never edit or reorder a released one (databases in the field already
 * ran it). Each is applied inside a transaction together with its
 * schema_migrations row.
 *
 * Invariants the schema itself enforces:
 * - events are append-only: triggers refuse every UPDATE and DELETE, and an
 *   INSERT OR REPLACE over an existing event;
 * - (run_id, host, seq) is unique, and every event belongs to a known run;
 * - `events.id` is an INTEGER PRIMARY KEY (the rowid): with no deletes it
 *   only grows, so it orders events by commit ("journal order");
 * - a run is finished exactly when it has an outcome.
 */
export const MIGRATIONS: readonly string[] = [
  /* v1 */ `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('apply', 'undo')),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT CHECK (outcome IN ('succeeded', 'failed', 'interrupted')),
    inventory TEXT NOT NULL,
    hosts TEXT NOT NULL CHECK (json_valid(hosts) AND json_type(hosts) = 'array'),
    CHECK ((finished_at IS NULL) = (outcome IS NULL))
  ) STRICT;

  CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (id),
    host TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    step_id TEXT,
    body TEXT NOT NULL CHECK (json_valid(body)),
    received_at TEXT NOT NULL,
    UNIQUE (run_id, host, seq)
  ) STRICT;

  -- State changes are few; logs and progress are many. Folds read only the former.
  CREATE INDEX events_by_kind ON events (run_id, kind);
  -- \`logs --step\`.
  CREATE INDEX events_by_step ON events (run_id, step_id);

  CREATE TRIGGER events_no_update BEFORE UPDATE ON events
  BEGIN
    SELECT RAISE(ABORT, 'journal events are append-only: UPDATE refused');
  END;

  CREATE TRIGGER events_no_delete BEFORE DELETE ON events
  BEGIN
    SELECT RAISE(ABORT, 'journal events are append-only: DELETE refused');
  END;

  -- INSERT OR REPLACE deletes the row it replaces without firing DELETE
  -- triggers (unless recursive_triggers is on), so an insert over an
  -- existing event is refused before it gets that far.
  CREATE TRIGGER events_no_replace BEFORE INSERT ON events
  WHEN EXISTS (
    SELECT 1 FROM events
    WHERE id = NEW.id OR (run_id = NEW.run_id AND host = NEW.host AND seq = NEW.seq)
  )
  BEGIN
    SELECT RAISE(ABORT, 'journal events are append-only: REPLACE refused');
  END;

  -- Run metadata about a host, not an event: the provisioner gave up on it.
  -- lost_after_seq is the host's last seq when that happened; anything later
  -- means it came back.
  CREATE TABLE lost_hosts (
    run_id TEXT NOT NULL REFERENCES runs (id),
    host TEXT NOT NULL,
    lost_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    lost_after_seq INTEGER NOT NULL CHECK (lost_after_seq >= 0),
    PRIMARY KEY (run_id, host)
  ) STRICT;
  `,
];

/** The schema version this build of groundcrew reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
