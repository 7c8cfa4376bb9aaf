import { describe, expect, it } from "vitest";
import type { AgentEvent, EventEnvelope } from "../../shared/protocol.js";
import {
  hostFigures,
  parseOutboxListing,
  type ModelRecord,
  type ScenarioRecord,
} from "../support/chaos-figures.js";
import { renderReliability } from "../support/reliability-report.js";

const step = (kind: "step.started" | "step.succeeded" | "step.skipped", stepId: string): AgentEvent =>
  kind === "step.started"
    ? { kind, stepId, title: stepId, index: 0, total: 1 }
    : kind === "step.skipped"
      ? { kind, stepId, reason: "done" }
      : { kind, stepId, durationMs: 1, changes: [] };

function journal(host: string, events: readonly AgentEvent[], seqs?: readonly number[]): EventEnvelope[] {
  return events.map((event, index) => ({
    runId: "r1",
    host,
    seq: seqs?.[index] ?? index + 1,
    at: "2026-12-02T00:00:00.000Z",
    event,
  }));
}

const RUN: AgentEvent[] = [
  { kind: "run.started", action: "apply", steps: 1 },
  step("step.started", "host.sysctl"),
  step("step.succeeded", "host.sysctl"),
  { kind: "run.finished", outcome: "succeeded", succeeded: 1, skipped: 0, failed: 0 },
];

describe("chaos figures", () => {
  it("counts an exact delivery: emitted from the outbox, journaled from the journal, nothing else", () => {
    const figures = hostFigures("node1", { ackedSeq: 4, waiting: [] }, [
      ...journal("node1", RUN),
      ...journal("node2", RUN),
    ]);
    expect(figures).toEqual({ host: "node1", emitted: 4, journaled: 4, duplicated: 0, lost: 0, waiting: 0 });
  });

  it("counts a second final result of one step and a second run.finished as duplicates", () => {
    const doubled = [...RUN.slice(0, 3), step("step.skipped", "host.sysctl"), RUN[3], RUN[3]].flatMap(
      (event) => (event === undefined ? [] : [event]),
    );
    expect(hostFigures("node1", { ackedSeq: 6, waiting: [] }, journal("node1", doubled))).toMatchObject({
      duplicated: 2,
      lost: 0,
    });
  });

  it("counts emitted seqs the journal lacks, and journal seqs the agent never emitted, as lost", () => {
    const gap = journal("node1", RUN.slice(0, 3), [1, 2, 5]);
    expect(hostFigures("node1", { ackedSeq: 2, waiting: [3, 4] }, gap)).toMatchObject({
      emitted: 4,
      journaled: 3,
      lost: 3,
      waiting: 2,
    });
  });

  it("reads an outbox listing: the acked mark and the waiting event files only", () => {
    expect(parseOutboxListing('{"ackedSeq":7}\n', ["acked.json", "000000000008.json", ".x.tmp", ""])).toEqual(
      { ackedSeq: 7, waiting: [8] },
    );
    expect(parseOutboxListing("", [])).toEqual({ ackedSeq: 0, waiting: [] });
    expect(() => parseOutboxListing('{"ackedSeq":-1}', [])).toThrow();
  });
});

describe("docs/reliability.md", () => {
  const scenario: ScenarioRecord = {
    kind: "lab",
    id: "2-agent-kill",
    scenario: "Agent killed | mid-step",
    happened: "killed,\nrestarted",
    promises: [1, 3],
    faults: [2],
    runId: "r1",
    seconds: 49.5,
    hosts: [
      { host: "node1", emitted: 12, journaled: 12, duplicated: 0, lost: 0, waiting: 0 },
      { host: "node2", emitted: 14, journaled: 14, duplicated: 0, lost: 0, waiting: 0 },
    ],
  };
  const model: ModelRecord = {
    kind: "model",
    id: "6-model-1-fixed",
    seed: 1,
    hosts: 5,
    emitted: 5000,
    journaled: 5000,
    deduped: 321,
    lost: 0,
    line: "seed 1: 5 hosts",
    seconds: 18,
  };

  it("has one row per record, totals with each host's share, the promises proven and how to rerun", () => {
    const markdown = renderReliability([scenario, model], { at: "2026-12-02T00:00:00Z", seconds: 480 });
    const rows = markdown.split("\n").filter((line) => line.startsWith("| "));
    expect(rows).toHaveLength(4);
    expect(rows[2]).toBe(
      "| Agent killed \\| mid-step | killed, restarted (promise 1, 3; fault 2; run `r1`, 50 s) | 26 (12 / 14) | 26 (12 / 14) | 0 | 0 |",
    );
    expect(rows[3]).toContain("| 5000 | 5000 | 0 (321 duplicate frames deduped) | 0 |");
    expect(markdown).toMatch(
      /^- \*\*Promise 1\*\*: every event an agent emits lands in the journal exactly once/m,
    );
    expect(markdown).toMatch(/^- \*\*Promise 3\*\*: steps may run more than once but converge/m);
    expect(markdown).not.toContain("Promise 4");
    expect(markdown).toContain("npm run chaos");
    expect(markdown).toContain("8.0 min");
  });

  it("refuses to write a report without records", () => {
    expect(() => renderReliability([], { at: "2026-12-02T00:00:00Z", seconds: 1 })).toThrow(
      /no chaos records/,
    );
  });
});
