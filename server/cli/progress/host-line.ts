import { formatBytes } from "../../../shared/format-bytes.js";
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
  /** When and at how many bytes the current transfer was first seen: the base of its rate. */
  transferSince?: { readonly atMs: number; readonly bytes: number } | undefined;
  /** When the latest byte count was seen. */
  transferAtMs?: number | undefined;
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

/**
 * Records a byte count of a transfer seen at `atMs`; a new total or a count
 * going backwards starts a new transfer (and a new rate).
 */
export function withTransfer(line: HostLine, bytesDone: number, bytesTotal: number, atMs: number): HostLine {
  const fresh =
    line.transferSince === undefined || line.bytesTotal !== bytesTotal || (line.bytesDone ?? 0) > bytesDone;
  return {
    ...line,
    bytesDone,
    bytesTotal,
    transferSince: fresh ? { atMs, bytes: bytesDone } : line.transferSince,
    transferAtMs: atMs,
  };
}

/** Folds one agent event, sent at `atMs` (agent clock), into a host's line. Pure. */
export function foldEvent(line: HostLine, event: AgentEvent, atMs = 0): HostLine {
  switch (event.kind) {
    case "run.started":
      return {
        ...line,
        phase: "running",
        state: "running",
        stepTotal: event.steps,
        bytesDone: undefined,
        bytesTotal: undefined,
        transferSince: undefined,
      };
    case "step.started":
      return {
        ...line,
        stepIndex: event.index + 1,
        stepTotal: event.total,
        stepTitle: event.title,
        bytesDone: undefined,
        bytesTotal: undefined,
        transferSince: undefined,
      };
    case "step.progress":
      return event.bytesTotal === undefined
        ? line
        : withTransfer(line, event.bytesDone ?? 0, event.bytesTotal, atMs);
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

/**
 * A transfer for humans: bar, bytes, and once a rate can be measured, the
 * rate and the time left: "[#####-----]  52%  16.8 MiB of 32.3 MiB  45 MiB/s  ETA 1 s".
 */
export function transferText(line: HostLine): string {
  const { bytesDone, bytesTotal, transferSince, transferAtMs } = line;
  if (bytesDone === undefined || bytesTotal === undefined) return "";
  const sizes = `${formatBytes(bytesDone)} of ${formatBytes(bytesTotal)}`;
  const seconds =
    transferSince === undefined || transferAtMs === undefined
      ? 0
      : (transferAtMs - transferSince.atMs) / 1000;
  const moved = bytesDone - (transferSince?.bytes ?? bytesDone);
  if (seconds < 0.2 || moved <= 0) return `${bar(bytesDone, bytesTotal)}  ${sizes}`;
  const rate = moved / seconds;
  const eta = Math.ceil((bytesTotal - bytesDone) / rate);
  return `${bar(bytesDone, bytesTotal)}  ${sizes}  ${formatBytes(rate)}/s${bytesDone < bytesTotal ? `  ETA ${eta} s` : ""}`;
}
