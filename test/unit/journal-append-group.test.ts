import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal, type GroupAppendResult } from "../../server/journal/index.js";
import type { AgentEvent, EventEnvelope } from "../../shared/protocol.js";

/**
 * Journal.appendGroup: the agents' events of one group commit in one
 * transaction, each judged by the append rule as if appended alone after
 * the ones before it; a refused envelope fails neither the group nor the
 * other hosts, and skips the rest of its own host; a write failure commits
 * nothing of the group.
 */

let dir: string;
let dbPath: string;
const opened: Journal[] = [];

function open(options?: Parameters<typeof Journal.open>[1]): Journal {
  const journal = Journal.open(dbPath, options);
  opened.push(journal);
  journal.startRun({ id: "r", action: "apply", inventory: "fleet.yaml", hosts: ["a", "b"] });
  return journal;
}

const line = (text: string): AgentEvent => ({ kind: "step.log", stepId: "s1", stream: "stdout", line: text });

function envelope(host: string, seq: number, text = `${host}${String(seq)}`): EventEnvelope {
  return {
    runId: "r",
    host,
    seq,
    at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
    event: line(text),
  };
}

/** Results with refusals as their codes, for comparing. */
function codes(results: readonly GroupAppendResult[]): string[] {
  return results.map((result) => (typeof result === "object" ? result.refused.code : result));
}

function seqs(journal: Journal, host: string): number[] {
  return journal.events({ runId: "r", host }).map((event) => event.seq);
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "gc-append-group-"));
  dbPath = path.join(dir, "journal.db");
});

afterEach(() => {
  for (const journal of opened.splice(0)) journal.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("Journal.appendGroup", () => {
  it("judges each envelope as if appended alone, in order: new, resent, interleaved hosts", () => {
    const journal = open();
    const results = journal.appendGroup([
      envelope("a", 1),
      envelope("b", 1),
      envelope("a", 2),
      envelope("a", 1),
      envelope("b", 2),
      envelope("a", 3),
    ]);
    expect(codes(results)).toEqual(["inserted", "inserted", "inserted", "duplicate", "inserted", "inserted"]);
    expect(seqs(journal, "a")).toEqual([1, 2, 3]);
    expect(seqs(journal, "b")).toEqual([1, 2]);
    expect(journal.appendGroup([])).toEqual([]);
  });

  it("refuses a conflict or gap of one host, skips that host's later envelopes, and commits the rest", () => {
    const journal = open();
    journal.append(envelope("a", 1));
    const results = journal.appendGroup([
      envelope("a", 2),
      envelope("b", 1),
      envelope("a", 1, "rewritten"),
      envelope("a", 3),
      envelope("b", 2),
      envelope("b", 4),
      envelope("b", 3),
    ]);
    expect(codes(results)).toEqual([
      "inserted",
      "inserted",
      "JOURNAL_CONFLICT",
      "skipped",
      "inserted",
      "JOURNAL_GAP",
      "skipped",
    ]);
    expect(seqs(journal, "a")).toEqual([1, 2]);
    expect(seqs(journal, "b")).toEqual([1, 2]);
    expect(journal.events({ runId: "r", host: "a" })[0]?.event).toEqual(line("a1"));
  });

  it("refuses an envelope of an unknown run or host without failing the group", () => {
    const journal = open();
    const results = journal.appendGroup([
      { ...envelope("a", 1), runId: "nope" },
      envelope("a", 1),
      envelope("c", 1),
    ]);
    expect(codes(results)).toEqual(["JOURNAL_UNKNOWN_RUN", "inserted", "JOURNAL_UNKNOWN_HOST"]);
    expect(seqs(journal, "a")).toEqual([1]);
  });

  it("commits nothing of a group the disk cannot take, and takes it whole once there is room", () => {
    const big = "x".repeat(8000);
    const journal = open({ maxSizeBytes: 96 * 1024 });
    journal.append(envelope("a", 1));
    const group = Array.from({ length: 40 }, (_, i) =>
      envelope(i % 2 === 0 ? "a" : "b", 2 + Math.floor(i / 2), big),
    );
    group.unshift(envelope("b", 1));
    let failure: unknown;
    try {
      journal.appendGroup(group);
    } catch (error) {
      failure = error;
    }
    expect(failure).toMatchObject({
      code: "JOURNAL_WRITE_FAILED",
      retryable: true,
      context: { sqliteCode: "SQLITE_FULL", operation: "appendGroup" },
    });
    expect(seqs(journal, "a")).toEqual([1]);
    expect(seqs(journal, "b")).toEqual([]);
    journal.close();

    const roomier = Journal.open(dbPath);
    opened.push(roomier);
    expect(new Set(roomier.appendGroup(group))).toEqual(new Set(["inserted"]));
    expect(seqs(roomier, "a")).toHaveLength(21);
    expect(seqs(roomier, "b")).toHaveLength(21);
  });

  it("throws JOURNAL_CLOSED on a closed journal", () => {
    const journal = open();
    journal.close();
    let failure: unknown;
    try {
      journal.appendGroup([envelope("a", 1)]);
    } catch (error) {
      failure = error;
    }
    expect(failure).toMatchObject({ code: "JOURNAL_CLOSED" });
  });
});
