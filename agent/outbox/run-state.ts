import path from "node:path";
import { z } from "zod";
import type { Fs } from "../../shared/host-io.js";
import { fileOp } from "../runner/host-calls.js";
import type { Reporter } from "../runner/reporter.js";
import { parseStateFile } from "../runner/state-dir.js";
import { StepError } from "../runner/step-error.js";
import { serial } from "./serial.js";

const runStateSchema = z.object({ runId: z.string(), completed: z.array(z.string()) }).strict();

/**
 * `<stateDir>/runs/<runId>.json`: the steps of a run that finished (succeeded
 * or skipped), so that a restarted agent resumes after them (the runner's
 * `completed`). Written atomically on every change.
 */
export class RunState {
  private readonly queue = serial();

  private constructor(
    private readonly fs: Fs,
    readonly file: string,
    private readonly runId: string,
    private readonly done: Set<string>,
  ) {}

  /** Reads the run's state, empty when there is none yet. AGENT_STATE_CORRUPT when the file is invalid. */
  static async open(fs: Fs, stateDir: string, runId: string): Promise<RunState> {
    const file = path.join(stateDir, "runs", `${runId}.json`);
    const text = await fileOp("read", file, () => fs.readTextIfExists(file));
    if (text === undefined) return new RunState(fs, file, runId, new Set());
    const state = parseStateFile(runStateSchema, file, text);
    if (state.runId !== runId) {
      throw new StepError("AGENT_STATE_CORRUPT", `run state ${file} belongs to run ${state.runId}`, {
        context: { path: file },
      });
    }
    return new RunState(fs, file, runId, new Set(state.completed));
  }

  get completed(): ReadonlySet<string> {
    return new Set(this.done);
  }

  /** Adds `stepId` and persists the state before resolving. */
  markCompleted(stepId: string): Promise<void> {
    return this.queue(async () => {
      if (this.done.has(stepId)) return;
      const next = [...this.done, stepId];
      const text = `${JSON.stringify({ runId: this.runId, completed: next }, null, 2)}\n`;
      await fileOp("write", this.file, async () => {
        await this.fs.mkdirp(path.dirname(this.file), 0o700);
        await this.fs.writeFileAtomic(this.file, text, 0o600);
      });
      this.done.add(stepId);
    });
  }
}

/**
 * Forwards every event to `inner`; once a `step.succeeded` or `step.skipped`
 * has been emitted there (durable, when `inner` is the outbox), marks the
 * step completed. A crash in between re-runs the step, whose check decides.
 */
export function completionReporter(runState: RunState, inner: Reporter): Reporter {
  return {
    async emit(event) {
      await inner.emit(event);
      if (event.kind === "step.succeeded" || event.kind === "step.skipped") {
        await runState.markCompleted(event.stepId);
      }
    },
  };
}
