import type { AgentEvent, EventEnvelope } from "../../shared/protocol.js";
import type { CurrentStep, HostState, HostStatus, StepState, StepStatus } from "./types.js";

/**
 * Pure folds from a host's journaled events to its status and its steps'
 * statuses. Only state events matter (see STATE_KINDS); logs and progress are
 * ignored. Events must be in seq order. Later events win: a step started
 * again after failing (a resumed agent) is "started" again, a second
 * run.started clears an earlier run.finished.
 */

/** The kinds the folds read; the journal selects only these from SQLite. */
export const STATE_KINDS = [
  "run.started",
  "run.finished",
  "step.started",
  "step.skipped",
  "step.succeeded",
  "step.failed",
] as const satisfies readonly AgentEvent["kind"][];

/** What the provisioner recorded with `markHostLost`. */
export interface LostMark {
  readonly at: string;
  readonly reason: string;
  /** The host's last seq when it was marked lost. */
  readonly afterSeq: number;
}

/** The host's latest journaled event, if any. */
export interface LastEvent {
  readonly seq: number;
  readonly at: string;
}

interface StepFold {
  stepId: string;
  state: StepState;
  title: string | null;
  index: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  error: { readonly code: string; readonly message: string } | null;
  skipReason: string | null;
  changes: readonly string[];
}

function stepFold(steps: Map<string, StepFold>, stepId: string): StepFold {
  let step = steps.get(stepId);
  if (step === undefined) {
    step = {
      stepId,
      state: "started",
      title: null,
      index: null,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      error: null,
      skipReason: null,
      changes: [],
    };
    steps.set(stepId, step);
  }
  return step;
}

/** Clears what a previous attempt at the step left, keeping its title and index. */
function resetOutcome(step: StepFold): void {
  step.finishedAt = null;
  step.durationMs = null;
  step.error = null;
  step.skipReason = null;
  step.changes = [];
}

export interface HostFold {
  readonly host: HostStatus;
  /** In order of each step's first appearance. */
  readonly steps: readonly StepStatus[];
}

export function foldHost(
  runId: string,
  host: string,
  events: readonly EventEnvelope[],
  last: LastEvent | null,
  lost: LostMark | null,
): HostFold {
  const steps = new Map<string, StepFold>();
  let startedAt: string | null = null;
  let finishedAt: string | null = null;
  let outcome: "succeeded" | "failed" | null = null;
  let stepsTotal: number | null = null;
  let lastStarted: string | null = null;

  for (const { at, event } of events) {
    switch (event.kind) {
      case "run.started":
        startedAt = at;
        stepsTotal = event.steps;
        finishedAt = null;
        outcome = null;
        break;
      case "run.finished":
        finishedAt = at;
        outcome = event.outcome;
        break;
      case "step.started": {
        const step = stepFold(steps, event.stepId);
        resetOutcome(step);
        step.state = "started";
        step.title = event.title;
        step.index = event.index;
        step.startedAt = at;
        lastStarted = event.stepId;
        break;
      }
      case "step.skipped": {
        const step = stepFold(steps, event.stepId);
        resetOutcome(step);
        step.state = "skipped";
        step.finishedAt = at;
        step.skipReason = event.reason;
        break;
      }
      case "step.succeeded": {
        const step = stepFold(steps, event.stepId);
        resetOutcome(step);
        step.state = "succeeded";
        step.finishedAt = at;
        step.durationMs = event.durationMs;
        step.changes = event.changes;
        break;
      }
      case "step.failed": {
        const step = stepFold(steps, event.stepId);
        resetOutcome(step);
        step.state = "failed";
        step.finishedAt = at;
        step.durationMs = event.durationMs;
        step.error = { code: event.error.code, message: event.error.message };
        break;
      }
      case "step.progress":
      case "step.log":
        break;
    }
  }

  const lastSeq = last?.seq ?? 0;
  let state: HostState;
  if (outcome !== null) state = outcome;
  else if (lost !== null && lastSeq <= lost.afterSeq) state = "lost";
  else if (lastSeq === 0) state = "pending";
  else state = "running";

  const stepList = [...steps.values()];
  const current = lastStarted === null ? undefined : steps.get(lastStarted);
  const currentStep: CurrentStep | null =
    (state === "running" || state === "lost") &&
    current?.state === "started" &&
    current.title !== null &&
    current.index !== null
      ? { stepId: current.stepId, title: current.title, index: current.index }
      : null;

  return {
    host: {
      runId,
      host,
      state,
      currentStep,
      stepsDone: stepList.filter((step) => step.state === "succeeded" || step.state === "skipped").length,
      stepsFailed: stepList.filter((step) => step.state === "failed").length,
      stepsTotal,
      startedAt,
      finishedAt,
      lastSeq,
      lastEventAt: last?.at ?? null,
      lost: lost === null ? null : { at: lost.at, reason: lost.reason },
    },
    steps: stepList.map((step) => ({ runId, host, ...step })),
  };
}
