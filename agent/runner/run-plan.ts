import type { Exec, Fs } from "../../shared/host-io.js";
import type { AgentEvent, Plan, PlanStep } from "../../shared/protocol.js";
import type { Ledger } from "../ledger/ledger.js";
import type { StepRegistry } from "./registry.js";
import type { Reporter } from "./reporter.js";
import type { BoundStep, HostContext } from "./step.js";
import { clip, clipChanges, errorInfo, MAX_TITLE, stepEventQueue } from "./step-events.js";

export interface RunPlanDeps {
  readonly registry: StepRegistry;
  /** Already runs as root. */
  readonly exec: Exec;
  readonly fs: Fs;
  readonly ledger: Ledger;
  readonly reporter: Reporter;
  /** Steps this run already finished (a restarted agent resuming): they emit nothing and do not run again. */
  readonly completed?: ReadonlySet<string>;
}

export type RunFinished = Extract<AgentEvent, { kind: "run.finished" }>;

type Attempt =
  | { kind: "skipped"; reason: string }
  | { kind: "succeeded"; changes: string[] }
  | { kind: "failed"; error: { code: string; message: string } };

/**
 * Runs a plan and reports it: `run.started`; per step `step.started`, then
 * `step.skipped` | `step.succeeded` | `step.failed` (with `step.log` and
 * `step.progress` in between); `run.finished` with counts of this invocation.
 *
 * "apply": check → done ? skipped : apply → verify. The first failure ends
 * the run; later steps do not run. "undo": steps in reverse order; a step
 * with no ledger record is skipped ("nothing recorded"); a failed undo is
 * reported and the others still run (reset is best-effort); after a
 * successful undo the step's ledger record is deleted.
 *
 * Every step is bound (known id, valid params) before any runs: a bad one
 * fails the run with nothing changed. Resolves with the `run.finished`
 * event; rejects only when the reporter does (events could not be recorded).
 */
export async function runPlan(plan: Plan, deps: RunPlanDeps): Promise<RunFinished> {
  const ordered = plan.action === "apply" ? plan.steps : [...plan.steps].reverse();
  const counts = { succeeded: 0, skipped: 0, failed: 0 };
  await deps.reporter.emit({ kind: "run.started", action: plan.action, steps: ordered.length });
  const bound = await bindAll(ordered, deps);
  if (bound === undefined) counts.failed = 1;
  for (const [index, { step, title }] of (bound ?? []).entries()) {
    if (deps.completed?.has(step.id) === true) continue;
    const outcome = await runStep(plan.action, step, { title, index, total: ordered.length }, deps);
    counts[outcome] += 1;
    if (outcome === "failed" && plan.action === "apply") break;
  }
  const outcome = counts.failed === 0 ? "succeeded" : "failed";
  const finished: RunFinished = { kind: "run.finished", outcome, ...counts };
  await deps.reporter.emit(finished);
  return finished;
}

interface Placed {
  readonly title: string;
  readonly index: number;
  readonly total: number;
}

/** Binds every step, or reports the first that cannot be bound (started + failed) and resolves undefined. */
async function bindAll(
  ordered: readonly PlanStep[],
  deps: RunPlanDeps,
): Promise<{ step: BoundStep; title: string }[] | undefined> {
  const bound: { step: BoundStep; title: string }[] = [];
  for (const [index, planStep] of ordered.entries()) {
    const { id: stepId, title } = planStep;
    try {
      const step = deps.registry.bind(planStep);
      bound.push({ step, title: clip(title === "" ? step.title : title, MAX_TITLE) });
    } catch (error) {
      await deps.reporter.emit({ kind: "step.started", stepId, title, index, total: ordered.length });
      await deps.reporter.emit({ kind: "step.failed", stepId, durationMs: 0, error: errorInfo(error) });
      return undefined;
    }
  }
  return bound;
}

async function runStep(
  action: Plan["action"],
  step: BoundStep,
  placed: Placed,
  deps: RunPlanDeps,
): Promise<Attempt["kind"]> {
  const stepId = step.id;
  const events = stepEventQueue(deps.reporter, stepId);
  const host: HostContext = {
    exec: deps.exec,
    fs: deps.fs,
    ledger: deps.ledger.forStep(stepId),
    log: events.log,
    progress: events.progress,
  };
  await deps.reporter.emit({ kind: "step.started", stepId, ...placed });
  const startedAt = performance.now();
  let attempt: Attempt;
  try {
    attempt = action === "apply" ? await applyStep(step, host) : await undoStep(step, host);
  } catch (error) {
    attempt = { kind: "failed", error: errorInfo(error) };
  }
  const durationMs = Math.round(performance.now() - startedAt);
  await events.flush();
  if (attempt.kind === "skipped") {
    await deps.reporter.emit({ kind: "step.skipped", stepId, reason: clip(attempt.reason) });
  } else if (attempt.kind === "succeeded") {
    const changes = clipChanges(attempt.changes);
    await deps.reporter.emit({ kind: "step.succeeded", stepId, durationMs, changes });
  } else {
    await deps.reporter.emit({ kind: "step.failed", stepId, durationMs, error: attempt.error });
  }
  return attempt.kind;
}

async function applyStep(step: BoundStep, host: HostContext): Promise<Attempt> {
  const state = await step.check(host);
  if (state.done) return { kind: "skipped", reason: state.reason };
  const { changes } = await step.apply(host);
  await step.verify(host);
  return { kind: "succeeded", changes };
}

async function undoStep(step: BoundStep, host: HostContext): Promise<Attempt> {
  if ((await host.ledger.read()) === undefined) return { kind: "skipped", reason: "nothing recorded" };
  const { changes } = await step.undo(host);
  await host.ledger.remove();
  return { kind: "succeeded", changes };
}
