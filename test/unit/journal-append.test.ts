import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal } from "../../server/journal/index.js";
import { envelopeOf } from "../../server/journal/reader.js";
import { GroundcrewError } from "../../shared/errors.js";
import { eventEnvelopeSchema, type AgentEvent, type EventEnvelope } from "../../shared/protocol.js";

let dir: string;
let dbPath: string;
const opened: Journal[] = [];

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

function open(options?: Parameters<typeof Journal.open>[1]): Journal {
  const journal = Journal.open(dbPath, options);
  opened.push(journal);
  return journal;
}

/** A clock the test sets by hand. */
function manualClock(): { clock: () => Date; set: (iso: string) => void } {
  let now = new Date(0);
  return {
    clock: () => now,
    set: (iso) => {
      now = new Date(iso);
    },
  };
}

function envelope(host: string, seq: number, event: AgentEvent, runId = "run-1"): EventEnvelope {
  return { runId, host, seq, at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(), event };
}

const log = (stepId: string, line: string): AgentEvent => ({
  kind: "step.log",
  stepId,
  stream: "stdout",
  line,
});
const started: AgentEvent = { kind: "run.started", action: "apply", steps: 2 };

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "gc-journal-append-"));
  dbPath = path.join(dir, "journal.db");
});

afterEach(() => {
  for (const journal of opened.splice(0)) journal.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("append: the contiguous, idempotent rule", () => {
  it("inserts seq 1, 2, 3 and reports a resend of the same content as a duplicate", () => {
    const journal = open();
    journal.startRun({ id: "run-1", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    expect(journal.lastSeq("run-1", "a")).toBe(0);
    expect(journal.append(envelope("a", 1, started))).toBe("inserted");
    expect(journal.append(envelope("a", 2, log("s1", "one")))).toBe("inserted");
    expect(journal.append(envelope("a", 1, started))).toBe("duplicate");
    expect(journal.append(envelope("a", 2, log("s1", "one")))).toBe("duplicate");
    expect(journal.append(envelope("a", 3, log("s1", "two")))).toBe("inserted");
    expect(journal.lastSeq("run-1", "a")).toBe(3);
    expect(journal.events({ runId: "run-1" }).map((event) => event.seq)).toEqual([1, 2, 3]);
  });

  it("treats the same event with its keys in another order as the same content", () => {
    const journal = open();
    journal.startRun({ id: "run-1", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    journal.append(envelope("a", 1, { kind: "step.log", stepId: "s1", stream: "info", line: "x" }));
    const reordered = {
      event: { line: "x", stream: "info", stepId: "s1", kind: "step.log" },
      at: envelope("a", 1, started).at,
      seq: 1,
      host: "a",
      runId: "run-1",
    } as const;
    expect(journal.append(reordered)).toBe("duplicate");
  });

  it("refuses the same seq with different content (event or agent time) as JOURNAL_CONFLICT", () => {
    const journal = open();
    journal.startRun({ id: "run-1", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    journal.append(envelope("a", 1, started));
    journal.append(envelope("a", 2, log("s1", "original")));
    expect(groundcrewError(() => journal.append(envelope("a", 2, log("s1", "rewritten"))))).toMatchObject({
      code: "JOURNAL_CONFLICT",
      context: { runId: "run-1", host: "a", seq: 2, lastSeq: 2 },
    });
    const otherTime = { ...envelope("a", 1, started), at: "2030-01-01T00:00:00.000Z" };
    expect(groundcrewError(() => journal.append(otherTime)).code).toBe("JOURNAL_CONFLICT");
    const stored = journal.events({ runId: "run-1" });
    expect(stored.map((event) => event.event)).toEqual([started, log("s1", "original")]);
  });

  it("refuses a gap (seq other than last + 1) as JOURNAL_GAP, also for a first event that is not 1", () => {
    const journal = open();
    journal.startRun({ id: "run-1", action: "apply", inventory: "fleet.yaml", hosts: ["a", "b"] });
    expect(groundcrewError(() => journal.append(envelope("b", 2, started)))).toMatchObject({
      code: "JOURNAL_GAP",
      context: { expected: 1 },
    });
    journal.append(envelope("a", 1, started));
    expect(groundcrewError(() => journal.append(envelope("a", 3, log("s1", "skipped one"))))).toMatchObject({
      code: "JOURNAL_GAP",
      context: { runId: "run-1", host: "a", seq: 3, lastSeq: 1, expected: 2 },
    });
    expect(journal.lastSeq("run-1", "a")).toBe(1);
    expect(journal.lastSeq("run-1", "b")).toBe(0);
  });

  it("refuses unknown runs, hosts outside the run and envelopes that fail the protocol schema", () => {
    const journal = open();
    journal.startRun({ id: "run-1", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    expect(groundcrewError(() => journal.append(envelope("a", 1, started, "run-2"))).code).toBe(
      "JOURNAL_UNKNOWN_RUN",
    );
    expect(groundcrewError(() => journal.append(envelope("intruder", 1, started))).code).toBe(
      "JOURNAL_UNKNOWN_HOST",
    );
    expect(
      groundcrewError(() => journal.append({ ...envelope("a", 1, started), at: "yesterday" })).code,
    ).toBe("JOURNAL_INVALID");
    expect(groundcrewError(() => journal.append(envelope("a", 0, started))).code).toBe("JOURNAL_INVALID");
    expect(journal.events({ runId: "run-1" })).toEqual([]);
  });

  it("commits a batch as a whole, or nothing of it when one envelope is refused", () => {
    const journal = open();
    journal.startRun({ id: "run-1", action: "apply", inventory: "fleet.yaml", hosts: ["a", "b"] });
    expect(
      journal.appendBatch([
        envelope("a", 1, started),
        envelope("b", 1, started),
        envelope("a", 2, log("s1", "x")),
        envelope("a", 2, log("s1", "x")),
      ]),
    ).toEqual(["inserted", "inserted", "inserted", "duplicate"]);

    const refused = groundcrewError(() =>
      journal.appendBatch([
        envelope("a", 3, log("s1", "y")),
        envelope("b", 2, log("s1", "y")),
        envelope("b", 4, log("s1", "gap")),
      ]),
    );
    expect(refused.code).toBe("JOURNAL_GAP");
    expect(journal.lastSeq("run-1", "a")).toBe(2);
    expect(journal.lastSeq("run-1", "b")).toBe(1);
    expect(journal.events({ runId: "run-1" })).toHaveLength(3);
  });
});

describe("ordering, following and export", () => {
  function interleaved(journal: Journal): EventEnvelope[] {
    journal.startRun({ id: "run-1", action: "apply", inventory: "fleet.yaml", hosts: ["b", "a"] });
    const order = [
      envelope("b", 1, started),
      envelope("a", 1, started),
      envelope("b", 2, log("s1", "b first")),
      envelope("b", 3, log("s2", "b second")),
      envelope("a", 2, log("s1", "a first")),
      envelope("a", 3, log("s2", "a second")),
    ];
    for (const item of order) journal.append(item);
    return order;
  }

  it("returns events in journal (commit) order, filtered by host and step", () => {
    const journal = open();
    const order = interleaved(journal);
    const all = journal.events({ runId: "run-1" });
    expect(all.map(({ host, seq }) => `${host}${String(seq)}`)).toEqual(["b1", "a1", "b2", "b3", "a2", "a3"]);
    expect(all.map((event) => envelopeOf(event))).toEqual(order);
    expect(all.every((event) => !Number.isNaN(Date.parse(event.receivedAt)))).toBe(true);
    const rowIds = all.map((event) => event.rowId);
    expect([...rowIds].sort((x, y) => x - y)).toEqual(rowIds);
    expect(new Set(rowIds).size).toBe(rowIds.length);
    expect(journal.events({ runId: "run-1", host: "a" }).map((event) => event.seq)).toEqual([1, 2, 3]);
    expect(
      journal.events({ runId: "run-1", stepId: "s2" }).map(({ host, seq }) => `${host}${String(seq)}`),
    ).toEqual(["b3", "a3"]);
    expect(journal.events({ runId: "run-1", limit: 2 }).map((event) => event.host)).toEqual(["b", "a"]);
    expect(groundcrewError(() => journal.events({ runId: "nope" })).code).toBe("JOURNAL_UNKNOWN_RUN");
  });

  it("follows by rowid: a reader in another connection sees exactly what was committed after its last row", () => {
    const writer = open();
    writer.startRun({ id: "run-1", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    writer.append(envelope("a", 1, started));
    const reader = open({ readonly: true });
    const first = reader.events({ runId: "run-1" });
    expect(first.map((event) => event.seq)).toEqual([1]);
    const cursor = first.at(-1)!.rowId;
    expect(reader.events({ runId: "run-1", afterRowId: cursor })).toEqual([]);
    writer.append(envelope("a", 2, log("s1", "later")));
    writer.append(envelope("a", 3, log("s1", "later still")));
    const next = reader.events({ runId: "run-1", afterRowId: cursor });
    expect(next.map((event) => event.seq)).toEqual([2, 3]);
    expect(next.every((event) => event.rowId > cursor)).toBe(true);
  });

  it("exports a run as JSON lines of the original envelopes in (host, seq) order", () => {
    const journal = open();
    const order = interleaved(journal);
    journal.startRun({ id: "run-2", action: "undo", inventory: "fleet.yaml", hosts: ["a"] });
    journal.append(envelope("a", 1, { kind: "run.started", action: "undo", steps: 0 }, "run-2"));

    const lines: string[] = [];
    expect(journal.exportRun("run-1", (line) => lines.push(line))).toBe(6);
    expect(lines.every((line) => line.endsWith("\n") && !line.slice(0, -1).includes("\n"))).toBe(true);
    const parsed = lines.map((line) => eventEnvelopeSchema.parse(JSON.parse(line)));
    const expected = [...order].sort((x, y) => x.host.localeCompare(y.host) || x.seq - y.seq);
    expect(parsed).toEqual(expected);
    expect(lines[0]).toBe(`${JSON.stringify(expected[0])}\n`);
    expect(groundcrewError(() => journal.exportRun("nope", () => undefined)).code).toBe(
      "JOURNAL_UNKNOWN_RUN",
    );
  });
});

describe("runs", () => {
  it("lists runs newest first, and records how they finished", () => {
    const time = manualClock();
    const journal = open({ clock: time.clock });
    expect(journal.latestRun()).toBeUndefined();
    time.set("2025-01-01T00:00:00.000Z");
    journal.startRun({ id: "old", action: "apply", inventory: "fleet.yaml", hosts: ["a", "b"] });
    time.set("2025-01-01T00:00:01.000Z");
    journal.startRun({ id: "new", action: "undo", inventory: "other.yaml", hosts: ["c"] });
    time.set("2025-01-01T00:00:02.000Z");
    journal.finishRun("old", "interrupted");
    expect(journal.runs()).toEqual([
      {
        id: "new",
        action: "undo",
        startedAt: "2025-01-01T00:00:01.000Z",
        finishedAt: null,
        outcome: null,
        inventory: "other.yaml",
        hosts: ["c"],
      },
      {
        id: "old",
        action: "apply",
        startedAt: "2025-01-01T00:00:00.000Z",
        finishedAt: "2025-01-01T00:00:02.000Z",
        outcome: "interrupted",
        inventory: "fleet.yaml",
        hosts: ["a", "b"],
      },
    ]);
    expect(journal.latestRun()?.id).toBe("new");
  });

  it("refuses a taken run id, invalid runs, and changing a finished run's outcome", () => {
    const journal = open();
    journal.startRun({ id: "r", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    expect(
      groundcrewError(() => {
        journal.startRun({ id: "r", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
      }).code,
    ).toBe("JOURNAL_RUN_EXISTS");
    expect(
      groundcrewError(() => {
        journal.startRun({ id: "bad id!", action: "apply", inventory: "x", hosts: [] });
      }).code,
    ).toBe("JOURNAL_INVALID");
    expect(
      groundcrewError(() => {
        journal.startRun({ id: "r2", action: "apply", inventory: "x", hosts: ["a", "a"] });
      }).code,
    ).toBe("JOURNAL_INVALID");
    journal.finishRun("r", "failed");
    journal.finishRun("r", "failed");
    expect(
      groundcrewError(() => {
        journal.finishRun("r", "succeeded");
      }).code,
    ).toBe("JOURNAL_CONFLICT");
    expect(
      groundcrewError(() => {
        journal.finishRun("missing", "failed");
      }).code,
    ).toBe("JOURNAL_UNKNOWN_RUN");
    expect(journal.runs().map((run) => [run.id, run.outcome])).toEqual([["r", "failed"]]);
  });

  it("refuses every write on a read-only or closed journal", () => {
    const writer = open();
    writer.startRun({ id: "r", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    const reader = open({ readonly: true });
    expect(groundcrewError(() => reader.append(envelope("a", 1, started, "r"))).code).toBe(
      "JOURNAL_READ_ONLY",
    );
    expect(
      groundcrewError(() => {
        reader.finishRun("r", "failed");
      }).code,
    ).toBe("JOURNAL_READ_ONLY");
    expect(reader.runs().map((run) => run.id)).toEqual(["r"]);
    writer.close();
    expect(groundcrewError(() => writer.runs()).code).toBe("JOURNAL_CLOSED");
    expect(groundcrewError(() => writer.append(envelope("a", 1, started, "r"))).code).toBe("JOURNAL_CLOSED");
  });
});

describe("events are append-only", () => {
  it("has no UPDATE or DELETE of events anywhere in the journal's code", () => {
    const sourceDir = path.join(import.meta.dirname, "../../server/journal");
    const sources = readdirSync(sourceDir).filter((name) => name.endsWith(".ts"));
    expect(sources).toContain("event-writer.ts");
    for (const name of sources) {
      const text = readFileSync(path.join(sourceDir, name), "utf8");
      expect(text, name).not.toMatch(/UPDATE\s+events\b/i);
      expect(text, name).not.toMatch(/DELETE\s+FROM\s+events\b/i);
      expect(text, name).not.toMatch(/(INSERT\s+OR\s+REPLACE|REPLACE\s+INTO)\s+events\b/i);
    }
  });

  it("has triggers that make SQLite itself refuse UPDATE and DELETE of events", () => {
    const journal = open();
    journal.startRun({ id: "r", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    journal.append(envelope("a", 1, started, "r"));
    journal.close();

    const raw = new Database(dbPath);
    try {
      expect(() => raw.prepare("UPDATE events SET body = '{}'").run()).toThrow(/append-only: UPDATE refused/);
      expect(() => raw.prepare("DELETE FROM events").run()).toThrow(/append-only: DELETE refused/);
      expect(() => raw.prepare("INSERT OR REPLACE INTO events SELECT * FROM events").run()).toThrow(
        /append-only: REPLACE refused/,
      );
      expect(() =>
        raw
          .prepare(
            `INSERT OR REPLACE INTO events (run_id, host, seq, at, kind, step_id, body, received_at)
             SELECT run_id, host, seq, at, kind, step_id, '{}', received_at FROM events`,
          )
          .run(),
      ).toThrow(/append-only: REPLACE refused/);
      expect(raw.prepare("SELECT count(*) AS n FROM events").get()).toEqual({ n: 1 });
    } finally {
      raw.close();
    }
  });
});

describe("write failures", () => {
  it("turns a full journal into a retryable JOURNAL_WRITE_FAILED, rolls the batch back, and resumes later", () => {
    const line = "x".repeat(8000);
    const journal = open({ maxSizeBytes: 96 * 1024 });
    journal.startRun({ id: "r", action: "apply", inventory: "fleet.yaml", hosts: ["a"] });
    journal.append(envelope("a", 1, started, "r"));

    const batch = Array.from({ length: 40 }, (_, index) => envelope("a", index + 2, log("s1", line), "r"));
    expect(groundcrewError(() => journal.appendBatch(batch))).toMatchObject({
      code: "JOURNAL_WRITE_FAILED",
      retryable: true,
      context: { sqliteCode: "SQLITE_FULL", operation: "appendBatch", path: dbPath },
    });
    expect(journal.lastSeq("r", "a")).toBe(1);

    // One at a time until it is full again: the last one fails and leaves nothing behind.
    let seq = 2;
    let failure: unknown;
    for (; seq < 100; seq += 1) {
      try {
        journal.append(envelope("a", seq, log("s1", line), "r"));
      } catch (error) {
        failure = error;
        break;
      }
    }
    expect(failure).toMatchObject({ code: "JOURNAL_WRITE_FAILED", retryable: true });
    expect(seq).toBeGreaterThan(2);
    expect(journal.lastSeq("r", "a")).toBe(seq - 1);
    expect(journal.events({ runId: "r" })).toHaveLength(seq - 1);
    journal.close();

    const roomier = open();
    expect(roomier.append(envelope("a", seq, log("s1", line), "r"))).toBe("inserted");
    expect(roomier.lastSeq("r", "a")).toBe(seq);
    roomier.close();
    const raw = new Database(dbPath, { readonly: true });
    try {
      expect(raw.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      raw.close();
    }
  });
});
