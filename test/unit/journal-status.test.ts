import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal, type HostStatus, type StepStatus } from "../../server/journal/index.js";
import { GroundcrewError } from "../../shared/errors.js";
import type { AgentEvent } from "../../shared/protocol.js";

let dir: string;
let journal: Journal;

const RUN = "run-7";
const at = (second: number): string => new Date(Date.UTC(2025, 5, 1, 12, 0, second)).toISOString();

/** Appends `events` for `host` as seq 1..n, the i-th at second `firstSecond + i`. */
function report(host: string, events: readonly AgentEvent[], firstSecond = 0): void {
  const from = journal.lastSeq(RUN, host);
  events.forEach((event, index) => {
    const seq = from + index + 1;
    expect(journal.append({ runId: RUN, host, seq, at: at(firstSecond + seq), event })).toBe("inserted");
  });
}

const runStarted = (steps: number): AgentEvent => ({ kind: "run.started", action: "apply", steps });
const stepStarted = (stepId: string, index: number, total = 3): AgentEvent => ({
  kind: "step.started",
  stepId,
  title: `Step ${stepId}`,
  index,
  total,
});
const succeeded = (stepId: string, durationMs: number, changes: string[] = []): AgentEvent => ({
  kind: "step.succeeded",
  stepId,
  durationMs,
  changes,
});

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

/** A host status with the fields a test does not care about at their "nothing happened" values. */
function hostStatus(host: string, fields: Partial<HostStatus>): HostStatus {
  return {
    runId: RUN,
    host,
    state: "pending",
    currentStep: null,
    stepsDone: 0,
    stepsFailed: 0,
    stepsTotal: null,
    startedAt: null,
    finishedAt: null,
    lastSeq: 0,
    lastEventAt: null,
    lost: null,
    ...fields,
  };
}

function stepStatus(host: string, stepId: string, fields: Partial<StepStatus>): StepStatus {
  return {
    runId: RUN,
    host,
    stepId,
    state: "started",
    title: `Step ${stepId}`,
    index: null,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    error: null,
    skipReason: null,
    changes: [],
    ...fields,
  };
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "gc-journal-status-"));
  journal = Journal.open(path.join(dir, "journal.db"));
  journal.startRun({
    id: RUN,
    action: "apply",
    inventory: "fleet.yaml",
    hosts: ["ok", "bad", "busy", "idle"],
  });
});

afterEach(() => {
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("host and step status folded from events", () => {
  it("folds a host whose steps all succeeded or were skipped, ignoring logs and progress", () => {
    report("ok", [
      runStarted(3),
      stepStarted("s1", 0),
      { kind: "step.log", stepId: "s1", stream: "stdout", line: "noise" },
      succeeded("s1", 1500, ["wrote /etc/sysctl.d/90-groundcrew-k8s.conf"]),
      stepStarted("s2", 1),
      { kind: "step.progress", stepId: "s2", bytesDone: 10, bytesTotal: 20 },
      succeeded("s2", 20),
      { kind: "step.skipped", stepId: "s3", reason: "already configured" },
      { kind: "run.finished", outcome: "succeeded", succeeded: 2, skipped: 1, failed: 0 },
    ]);

    expect(journal.hostStatus(RUN)[0]).toEqual(
      hostStatus("ok", {
        state: "succeeded",
        stepsDone: 3,
        stepsTotal: 3,
        startedAt: at(1),
        finishedAt: at(9),
        lastSeq: 9,
        lastEventAt: at(9),
      }),
    );
    expect(journal.stepStatus(RUN, "ok")).toEqual([
      stepStatus("ok", "s1", {
        state: "succeeded",
        index: 0,
        startedAt: at(2),
        finishedAt: at(4),
        durationMs: 1500,
        changes: ["wrote /etc/sysctl.d/90-groundcrew-k8s.conf"],
      }),
      stepStatus("ok", "s2", {
        state: "succeeded",
        index: 1,
        startedAt: at(5),
        finishedAt: at(7),
        durationMs: 20,
      }),
      stepStatus("ok", "s3", {
        state: "skipped",
        title: null,
        finishedAt: at(8),
        skipReason: "already configured",
      }),
    ]);
  });

  it("folds a failed step and a failed host", () => {
    report("bad", [
      runStarted(3),
      stepStarted("s1", 0),
      succeeded("s1", 5),
      stepStarted("s2", 1),
      {
        kind: "step.failed",
        stepId: "s2",
        durationMs: 750,
        error: { code: "EXIT_1", message: "apt said no" },
      },
      { kind: "run.finished", outcome: "failed", succeeded: 1, skipped: 0, failed: 1 },
    ]);

    const [, bad] = journal.hostStatus(RUN);
    expect(bad).toEqual(
      hostStatus("bad", {
        state: "failed",
        stepsDone: 1,
        stepsFailed: 1,
        stepsTotal: 3,
        startedAt: at(1),
        finishedAt: at(6),
        lastSeq: 6,
        lastEventAt: at(6),
      }),
    );
    expect(journal.stepStatus(RUN, "bad")[1]).toEqual(
      stepStatus("bad", "s2", {
        state: "failed",
        index: 1,
        startedAt: at(4),
        finishedAt: at(5),
        durationMs: 750,
        error: { code: "EXIT_1", message: "apt said no" },
      }),
    );
  });

  it("shows a run still running: the host's current step, pending hosts, no outcome", () => {
    report("busy", [runStarted(3), stepStarted("s1", 0), succeeded("s1", 5), stepStarted("s2", 1)]);

    expect(journal.hostStatus(RUN)).toEqual([
      hostStatus("ok", {}),
      hostStatus("bad", {}),
      hostStatus("busy", {
        state: "running",
        currentStep: { stepId: "s2", title: "Step s2", index: 1 },
        stepsDone: 1,
        stepsTotal: 3,
        startedAt: at(1),
        lastSeq: 4,
        lastEventAt: at(4),
      }),
      hostStatus("idle", {}),
    ]);
    expect(journal.stepStatus(RUN).map((step) => [step.host, step.stepId, step.state])).toEqual([
      ["busy", "s1", "succeeded"],
      ["busy", "s2", "started"],
    ]);
    expect(journal.latestRun()).toMatchObject({ id: RUN, outcome: null, finishedAt: null });
  });

  it("shows a host marked lost as lost until it reports again, and never a finished host as lost", () => {
    const time = new Date("2025-06-01T13:00:00.000Z");
    journal.close();
    journal = Journal.open(path.join(dir, "journal.db"), { clock: () => time });
    report("busy", [runStarted(3), stepStarted("s1", 0)]);
    report("ok", [
      runStarted(0),
      { kind: "run.finished", outcome: "succeeded", succeeded: 0, skipped: 0, failed: 0 },
    ]);
    journal.markHostLost(RUN, "busy", "no heartbeat for 60s");
    journal.markHostLost(RUN, "ok", "connection dropped after finishing");
    journal.markHostLost(RUN, "idle", "never connected");

    const lost = { at: time.toISOString(), reason: "no heartbeat for 60s" };
    const statuses = journal.hostStatus(RUN);
    expect(statuses[2]).toEqual(
      hostStatus("busy", {
        state: "lost",
        currentStep: { stepId: "s1", title: "Step s1", index: 0 },
        stepsTotal: 3,
        startedAt: at(1),
        lastSeq: 2,
        lastEventAt: at(2),
        lost,
      }),
    );
    expect(statuses.map((status) => status.state)).toEqual(["succeeded", "pending", "lost", "lost"]);

    // It comes back and carries on: running again, the mark kept for the record.
    report("busy", [succeeded("s1", 9000)]);
    expect(journal.hostStatus(RUN)[2]).toMatchObject({
      state: "running",
      currentStep: null,
      stepsDone: 1,
      lost,
    });
    expect(
      groundcrewError(() => {
        journal.markHostLost(RUN, "stranger", "?");
      }).code,
    ).toBe("JOURNAL_UNKNOWN_HOST");
  });

  it("takes the latest attempt of a step that was retried", () => {
    report("busy", [
      runStarted(1),
      stepStarted("s1", 0, 1),
      { kind: "step.failed", stepId: "s1", durationMs: 1, error: { code: "X", message: "first try" } },
      stepStarted("s1", 0, 1),
    ]);
    expect(journal.stepStatus(RUN, "busy")).toEqual([
      stepStatus("busy", "s1", { state: "started", index: 0, startedAt: at(4) }),
    ]);
    expect(journal.hostStatus(RUN)[2]).toMatchObject({ stepsFailed: 0, currentStep: { stepId: "s1" } });
    report("busy", [succeeded("s1", 3)]);
    expect(journal.stepStatus(RUN, "busy")[0]).toMatchObject({
      state: "succeeded",
      error: null,
      durationMs: 3,
    });
  });

  it("refuses status of unknown runs and hosts", () => {
    expect(groundcrewError(() => journal.hostStatus("other")).code).toBe("JOURNAL_UNKNOWN_RUN");
    expect(groundcrewError(() => journal.stepStatus(RUN, "stranger")).code).toBe("JOURNAL_UNKNOWN_HOST");
  });
});
