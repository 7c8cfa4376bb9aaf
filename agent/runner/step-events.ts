import { isGroundcrewError } from "../../shared/errors.js";
import type { AgentEvent } from "../../shared/protocol.js";
import type { Reporter } from "./reporter.js";
import type { StepProgress } from "./step.js";

/** Bounds of the protocol's event fields (shared/protocol.ts): longer text is cut, never rejected. */
export const MAX_TEXT = 8000;
export const MAX_CHANGES = 100;
export const MAX_TITLE = 200;
const MAX_MESSAGE = 4000;

export function clip(text: string, max = MAX_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** At most MAX_CHANGES lines, the last one saying how many were left out. */
export function clipChanges(changes: readonly string[]): string[] {
  const clipped = changes.map((change) => clip(change));
  if (clipped.length <= MAX_CHANGES) return clipped;
  return [...clipped.slice(0, MAX_CHANGES - 1), `… and ${clipped.length - MAX_CHANGES + 1} more`];
}

/**
 * The `error` of a `step.failed`: a GroundcrewError's code; HOST_IO_FAILED for
 * a Node file-system error (its message names the path); STEP_INTERNAL otherwise.
 */
export function errorInfo(error: unknown): { code: string; message: string } {
  if (isGroundcrewError(error)) return { code: error.code, message: clip(error.message, MAX_MESSAGE) };
  const message = clip(error instanceof Error ? error.message : String(error), MAX_MESSAGE);
  const errno = error instanceof Error && "code" in error && typeof error.code === "string";
  return { code: errno ? "HOST_IO_FAILED" : "STEP_INTERNAL", message };
}

export interface StepEventQueue {
  readonly log: (line: string) => void;
  readonly progress: (update: StepProgress) => void;
  /** Resolves once every queued event was emitted; rejects with the first emit failure. */
  flush(): Promise<void>;
}

/**
 * A step's `log` and `progress` are synchronous for the step; their events
 * are emitted in order behind its back. After an emit fails, the rest are
 * dropped and `flush` reports the failure (never an unhandled rejection).
 */
export function stepEventQueue(reporter: Reporter, stepId: string): StepEventQueue {
  let chain = Promise.resolve();
  let failure: { error: unknown } | undefined;
  const enqueue = (event: AgentEvent): void => {
    chain = chain.then(async () => {
      if (failure !== undefined) return;
      try {
        await reporter.emit(event);
      } catch (error) {
        failure = { error };
      }
    });
  };
  const count = (value: number | undefined): number | undefined =>
    value === undefined ? undefined : Math.max(0, Math.floor(value));
  return {
    log: (line) => {
      enqueue({ kind: "step.log", stepId, stream: "info", line: clip(line) });
    },
    progress: (update) => {
      enqueue({
        kind: "step.progress",
        stepId,
        ...(update.message === undefined ? {} : { message: clip(update.message) }),
        ...(update.bytesDone === undefined ? {} : { bytesDone: count(update.bytesDone) }),
        ...(update.bytesTotal === undefined ? {} : { bytesTotal: count(update.bytesTotal) }),
      });
    },
    async flush() {
      await chain;
      if (failure !== undefined) throw failure.error;
    },
  };
}
