import type { AgentEvent } from "../../../shared/protocol.js";

/** What one host line shows: a phase before the agent reports, then its step k/n and state. */
export interface HostLine {
  phase: string;
  stepIndex: number;
  stepTotal: number;
  stepTitle: string;
  state: "waiting" | "running" | "succeeded" | "failed" | "lost";
  bytesDone?: number | undefined;
  bytesTotal?: number | undefined;
  counts: { succeeded: number; skipped: number; failed: number };
}

export function initialLine(): HostLine {
  return {
    phase: "waiting",
    stepIndex: 0,
    stepTotal: 0,
    stepTitle: "",
    state: "waiting",
    counts: { succeeded: 0, skipped: 0, failed: 0 },
  };
}

/** Folds one agent event into a host's line. Pure. */
export function foldEvent(line: HostLine, event: AgentEvent): HostLine {
  switch (event.kind) {
    case "run.started":
      return {
        ...line,
        phase: "running",
        state: "running",
        stepTotal: event.steps,
        bytesDone: undefined,
        bytesTotal: undefined,
      };
    case "step.started":
      return {
        ...line,
        stepIndex: event.index + 1,
        stepTotal: event.total,
        stepTitle: event.title,
        bytesDone: undefined,
        bytesTotal: undefined,
      };
    case "step.progress":
      return { ...line, bytesDone: event.bytesDone, bytesTotal: event.bytesTotal };
    case "step.skipped":
      return { ...line, counts: { ...line.counts, skipped: line.counts.skipped + 1 } };
    case "step.succeeded":
      return { ...line, counts: { ...line.counts, succeeded: line.counts.succeeded + 1 } };
    case "step.failed":
      return { ...line, counts: { ...line.counts, failed: line.counts.failed + 1 } };
    case "step.log":
      return line;
    case "run.finished":
      return {
        ...line,
        phase: "done",
        state: event.outcome === "succeeded" ? "succeeded" : "failed",
        counts: { succeeded: event.succeeded, skipped: event.skipped, failed: event.failed },
      };
  }
}

/** A text bar for a transfer, e.g. "[#####-----]  52%". */
export function bar(done: number, total: number, width = 20): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}%`;
}
