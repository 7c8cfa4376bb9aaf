import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal } from "../../server/journal/index.js";
import { formatLockContent, parseLockContent } from "../../server/journal/lock.js";
import { applyMigrations, schemaVersion } from "../../server/journal/migrations.js";
import { ownIdentity, parseProcStat } from "../../server/process-identity.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../server/journal/schema.js";
import { GroundcrewError } from "../../shared/errors.js";

let dir: string;
let dbPath: string;
let lockPath: string;
const opened: Journal[] = [];

function open(options?: Parameters<typeof Journal.open>[1]): Journal {
  const journal = Journal.open(dbPath, options);
  opened.push(journal);
  return journal;
}

/** The GroundcrewError `work` throws (anything else thrown fails the test). */
function groundcrewError(work: () => unknown): GroundcrewError {
  try {
    work();
  } catch (error) {
    if (error instanceof GroundcrewError) return error;
    throw error;
  }
  throw new Error("expected a GroundcrewError, but nothing was thrown");
}

const mode = (file: string): number => statSync(file).mode & 0o777;

/** Start time (field 22 of /proc/<pid>/stat) of a running process. */
function startTimeOf(pid: number): string {
  const parsed = parseProcStat(readFileSync(`/proc/${String(pid)}/stat`, "utf8"));
  if (parsed === null) throw new Error(`cannot read the start time of ${String(pid)}`);
  return parsed.startTime;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "gc-journal-open-"));
  dbPath = path.join(dir, "state", "journal", "journal.db");
  lockPath = `${dbPath}.lock`;
});

afterEach(() => {
  for (const journal of opened.splice(0)) journal.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("opening", () => {
  it("sets WAL, synchronous=FULL, foreign keys and a short busy timeout on its connection", () => {
    const journal = open();
    expect(journal.settings()).toEqual({
      journalMode: "wal",
      synchronous: "full",
      foreignKeys: true,
      busyTimeoutMs: 1000,
      schemaVersion: SCHEMA_VERSION,
    });
    const raw = new Database(dbPath, { readonly: true });
    try {
      expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      raw.close();
    }
    expect(open({ readonly: true }).settings()).toMatchObject({ journalMode: "wal", synchronous: "full" });
  });

  it("creates its directories 0700 and the database, -wal, -shm and lock files 0600, whatever the umask", () => {
    const previous = process.umask(0);
    try {
      const journal = open();
      journal.startRun({ id: "r", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
      expect(mode(path.dirname(dbPath))).toBe(0o700);
      expect(mode(path.dirname(path.dirname(dbPath)))).toBe(0o700);
      for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, lockPath]) {
        expect(existsSync(file), file).toBe(true);
        expect(mode(file), file).toBe(0o600);
      }
    } finally {
      process.umask(previous);
    }
  });

  it("tightens an existing database file to 0600", () => {
    open().close();
    chmodSync(dbPath, 0o644);
    expect(mode(dbPath)).toBe(0o644);
    open();
    expect(mode(dbPath)).toBe(0o600);
  });

  it("refuses a read-only open of a journal that does not exist, and creates nothing", () => {
    expect(groundcrewError(() => open({ readonly: true }))).toMatchObject({ code: "JOURNAL_NOT_FOUND" });
    expect(existsSync(path.dirname(dbPath))).toBe(false);
  });

  it("refuses a file that is not a SQLite database with JOURNAL_OPEN_FAILED and releases the lock", () => {
    open().close();
    writeFileSync(dbPath, "this is not a database, just text long enough to have a header".repeat(20));
    expect(groundcrewError(() => open())).toMatchObject({
      code: "JOURNAL_OPEN_FAILED",
      context: { sqliteCode: "SQLITE_NOTADB", path: dbPath },
    });
    expect(existsSync(lockPath)).toBe(false);
  });
});

describe("the single-writer lock", () => {
  it("refuses a second writable open with JOURNAL_IN_USE naming the holder's pid, and frees it on close", () => {
    const first = open();
    expect(readFileSync(lockPath, "utf8")).toBe(formatLockContent(ownIdentity()));
    const error = groundcrewError(() => open());
    expect(error.code).toBe("JOURNAL_IN_USE");
    expect(error.message).toBe(
      `the journal at ${dbPath} is in use by another groundcrew process (pid ${String(process.pid)})`,
    );
    expect(error.context).toEqual({ path: dbPath, lockPath, pid: process.pid });
    first.close();
    expect(existsSync(lockPath)).toBe(false);
    expect(() => open()).not.toThrow();
  });

  it("refuses while another live process holds the lock, and takes it over once that process is gone", async () => {
    open().close();
    const holder = spawn("sleep", ["30"], { stdio: "ignore" });
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    try {
      const pid = holder.pid!;
      writeFileSync(lockPath, `${String(pid)} ${startTimeOf(pid)}\n`, { mode: 0o600 });
      const error = groundcrewError(() => open());
      expect(error.code).toBe("JOURNAL_IN_USE");
      expect(error.message).toContain(`in use by another groundcrew process (pid ${String(pid)})`);
      expect(readFileSync(lockPath, "utf8")).toBe(`${String(pid)} ${startTimeOf(pid)}\n`);
    } finally {
      holder.kill("SIGKILL");
      await exited;
    }
    const journal = open();
    expect(readFileSync(lockPath, "utf8")).toBe(formatLockContent(ownIdentity()));
    expect(journal.runs()).toEqual([]);
  });

  it("takes over a stale lock left by a process that exited", () => {
    const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    });
    const deadPid = Number(child.stdout);
    expect(deadPid).toBeGreaterThan(0);
    expect(existsSync(`/proc/${String(deadPid)}`)).toBe(false);
    open().close();
    writeFileSync(lockPath, `${String(deadPid)} 12345\n`);

    const journal = open();
    expect(readFileSync(lockPath, "utf8")).toBe(formatLockContent(ownIdentity()));
    journal.startRun({ id: "r", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    expect(journal.runs()).toHaveLength(1);
  });

  it("takes over a lock whose pid is alive but was reused by a process that started at another time", () => {
    const me = ownIdentity();
    expect(me.startTime).toMatch(/^\d+$/);
    open().close();
    writeFileSync(lockPath, `${String(me.pid)} ${String(Number(me.startTime) + 1)}\n`);
    expect(() => open()).not.toThrow();
  });

  it("treats a fresh unreadable lock as being written right now, an old one as stale", () => {
    open().close();
    writeFileSync(lockPath, "");
    const error = groundcrewError(() => open());
    expect(error.code).toBe("JOURNAL_IN_USE");
    expect(error.message).toContain("(pid unknown)");
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockPath, old, old);
    expect(() => open()).not.toThrow();
  });

  it("lets read-only opens read while a writer holds the lock, without taking or disturbing it", () => {
    const writer = open();
    writer.startRun({ id: "r", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    const lockBefore = readFileSync(lockPath, "utf8");
    const reader = open({ readonly: true });
    const another = open({ readonly: true });
    expect(reader.runs().map((run) => run.id)).toEqual(["r"]);
    writer.append({
      runId: "r",
      host: "a",
      seq: 1,
      at: "2025-01-01T00:00:00.000Z",
      event: { kind: "run.started", action: "apply", steps: 0 },
    });
    expect(another.lastSeq("r", "a")).toBe(1);
    reader.close();
    another.close();
    expect(readFileSync(lockPath, "utf8")).toBe(lockBefore);
    expect(writer.lastSeq("r", "a")).toBe(1);
  });

  it("parses only well-formed lock contents", () => {
    expect(parseLockContent("123 456\n")).toEqual({ pid: 123, startTime: "456" });
    expect(parseLockContent("123 ?\n")).toEqual({ pid: 123, startTime: null });
    for (const bad of ["", "123", "abc 456", "0 1", "-1 1", "1 2 3", "1 2\n\n"]) {
      expect(parseLockContent(bad), JSON.stringify(bad)).toBeNull();
    }
  });

  it("reads the start time from /proc/<pid>/stat even when the command name has spaces and parentheses", () => {
    const fields = Array.from({ length: 50 }, (_, index) => String(index + 3));
    const stat = `4242 (evil) name (x)) S ${fields.slice(1).join(" ")}`;
    expect(parseProcStat(stat)).toEqual({ state: "S", startTime: "22" });
    expect(parseProcStat("4242 no-parens S 1")).toBeNull();
  });
});

describe("schema migrations", () => {
  it("records each applied migration and is a no-op on reopen", () => {
    open().close();
    open().close();
    const raw = new Database(dbPath, { readonly: true });
    try {
      expect(raw.prepare("SELECT version FROM schema_migrations ORDER BY version").all()).toEqual(
        MIGRATIONS.map((_, index) => ({ version: index + 1 })),
      );
    } finally {
      raw.close();
    }
  });

  it("refuses a journal from a newer groundcrew, writable or read-only, and leaves it untouched", () => {
    open().close();
    const raw = new Database(dbPath);
    raw
      .prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
      .run(SCHEMA_VERSION + 5, "x");
    raw.close();

    for (const options of [{}, { readonly: true }]) {
      const error = groundcrewError(() => open(options));
      expect(error.code).toBe("JOURNAL_SCHEMA_TOO_NEW");
      expect(error.context).toEqual({ path: dbPath, found: SCHEMA_VERSION + 5, supported: SCHEMA_VERSION });
      expect(error.message).toMatch(/newer groundcrew.*upgrade groundcrew/);
    }
    expect(existsSync(lockPath)).toBe(false);
  });

  it("refuses a read-only open of a journal that still needs a migration", () => {
    open().close();
    const raw = new Database(dbPath);
    raw.exec(`DELETE FROM schema_migrations WHERE version = ${String(SCHEMA_VERSION)}`);
    raw.close();
    expect(groundcrewError(() => open({ readonly: true }))).toMatchObject({
      code: "JOURNAL_SCHEMA_OUTDATED",
    });
  });

  it("applies pending migrations in order, and none of them if one fails", () => {
    const raw = new Database(path.join(dir, "plain.db"));
    try {
      const now = (): Date => new Date(0);
      expect(applyMigrations(raw, "plain.db", now, ["CREATE TABLE one (x INTEGER) STRICT"])).toBe(0);
      expect(schemaVersion(raw)).toBe(1);
      const failing = [
        "CREATE TABLE one (x INTEGER) STRICT",
        "CREATE TABLE two (y TEXT)",
        "CREATE TABLE broken (",
      ];
      expect(() => applyMigrations(raw, "plain.db", now, failing)).toThrow(/syntax error|incomplete input/);
      expect(schemaVersion(raw)).toBe(1);
      expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'two'").get()).toBeUndefined();
      const fixed = [...failing.slice(0, 2), "CREATE TABLE three (z TEXT)"];
      expect(applyMigrations(raw, "plain.db", now, fixed)).toBe(1);
      expect(schemaVersion(raw)).toBe(3);
      expect(
        raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(),
      ).toEqual(["one", "schema_migrations", "three", "two"]);
    } finally {
      raw.close();
    }
  });
});
