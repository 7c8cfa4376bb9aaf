import type { EventEnvelope } from "../../../shared/protocol.js";
import { formatBytes } from "../../../shared/format-bytes.js";
import { terminalSafe } from "../../../shared/terminal-safe.js";
import { foldEvent, initialLine, transferText, withTransfer, type HostLine } from "./host-line.js";

export type ProgressMode = "tty" | "lines" | "json";

export interface ProgressSink {
  write(text: string): void;
}

/**
 * Live progress of a run for a terminal. "tty": one line per host, redrawn
 * in place; "lines": one plain line per event (logs, pipes); "json": every
 * event envelope as a JSON line. Host-supplied text is always escaped, so a
 * host can never move the cursor or recolour the provisioner's terminal.
 */
export class ProgressView {
  private readonly lines = new Map<string, HostLine>();
  /** Last quarter of a transfer printed per host, so plain lines show 0/25/50/75/100 % only. */
  private readonly quarters = new Map<string, number>();
  private drawn = 0;
  private readonly width: number;

  constructor(
    hosts: readonly string[],
    private readonly out: ProgressSink,
    private readonly mode: ProgressMode,
    /** Clock for transfer rates, in ms. */
    private readonly now: () => number = Date.now,
  ) {
    for (const host of hosts) this.lines.set(host, initialLine());
    this.width = Math.max(...hosts.map((host) => terminalSafe(host).length), 4);
  }

  /** A phase of the provisioner's own work on a host ("pushing agent", "lost: ..."). */
  phase(host: string, phase: string, state?: HostLine["state"]): void {
    const line = this.lines.get(host) ?? initialLine();
    this.lines.set(host, { ...line, phase, ...(state === undefined ? {} : { state }) });
    if (this.mode === "lines") this.out.write(`${this.label(host)}  ${terminalSafe(phase)}\n`);
    if (this.mode === "json") this.out.write(`${JSON.stringify({ host, phase, state })}\n`);
    this.redraw();
  }

  /** Bytes of a transfer from the provisioner to a host (the agent, or the depot's artifacts) before its run. */
  transfer(
    host: string,
    bytesDone: number,
    bytesTotal: number,
    what: "the agent" | "artifacts" = "the agent",
  ): void {
    const line = withTransfer(this.lines.get(host) ?? initialLine(), bytesDone, bytesTotal, this.now());
    this.lines.set(host, { ...line, phase: `sending ${what}` });
    const quarter = bytesTotal > 0 ? Math.floor((4 * bytesDone) / bytesTotal) : 4;
    if (this.mode !== "tty" && quarter !== this.quarters.get(host)) {
      this.quarters.set(host, quarter);
      const text = `sending ${what} ${transferText(line)}`;
      this.out.write(
        this.mode === "json"
          ? `${JSON.stringify({ host, transfer: { what, bytesDone, bytesTotal } })}\n`
          : `${this.label(host)}  ${text}\n`,
      );
    }
    this.redraw();
  }

  event(envelope: EventEnvelope): void {
    const { host, event } = envelope;
    this.lines.set(host, foldEvent(this.lines.get(host) ?? initialLine(), event, Date.parse(envelope.at)));
    if (this.mode === "json") this.out.write(`${JSON.stringify(envelope)}\n`);
    if (this.mode === "lines") this.out.write(`${this.label(host)}  ${describeEvent(envelope)}\n`);
    this.redraw();
  }

  /** Leaves the final state on screen. */
  close(): void {
    this.redraw();
  }

  private label(host: string): string {
    return terminalSafe(host).padEnd(this.width);
  }

  private redraw(): void {
    if (this.mode !== "tty") return;
    const rows = [...this.lines].map(([host, line]) => `${this.label(host)}  ${renderLine(line)}`);
    const up = this.drawn > 0 ? `\u001b[${this.drawn}F` : "";
    this.out.write(`${up}${rows.map((row) => `\u001b[2K${row}`).join("\n")}\n`);
    this.drawn = rows.length;
  }
}

function renderLine(line: HostLine): string {
  const { succeeded, skipped, failed } = line.counts;
  const tally = `${succeeded} done, ${skipped} skipped${failed > 0 ? `, ${failed} FAILED` : ""}`;
  if (line.state === "succeeded" || line.state === "failed") {
    return `${line.state === "succeeded" ? "ok" : "FAILED"}  ${tally}`;
  }
  const text = transferText(line);
  const transfer = text === "" ? "" : `  ${text}`;
  if (line.stepIndex === 0) return `${terminalSafe(line.phase)}${transfer}`;
  return `[${line.stepIndex}/${line.stepTotal}] ${terminalSafe(line.stepTitle)}${transfer}`;
}

/** One event in words, for the line mode and `logs`. */
export function describeEvent({ event, seq }: EventEnvelope): string {
  const text = ((): string => {
    switch (event.kind) {
      case "run.started":
        return `run started (${event.action}, ${event.steps} steps)`;
      case "step.started":
        return `[${event.index + 1}/${event.total}] ${event.stepId}: ${event.title}`;
      case "step.skipped":
        return `${event.stepId} skipped: ${event.reason}`;
      case "step.succeeded":
        return `${event.stepId} succeeded in ${(event.durationMs / 1000).toFixed(1)} s${
          event.changes.length > 0 ? `: ${event.changes.join("; ")}` : ""
        }`;
      case "step.failed":
        return `${event.stepId} FAILED (${event.error.code}): ${event.error.message}`;
      case "step.progress":
        return `${event.stepId} ${event.message ?? ""}${
          event.bytesTotal !== undefined
            ? ` ${formatBytes(event.bytesDone ?? 0)} of ${formatBytes(event.bytesTotal)}`
            : ""
        }`;
      case "step.log":
        return `${event.stepId} ${event.stream}: ${event.line}`;
      case "run.finished":
        return `run ${event.outcome}: ${event.succeeded} succeeded, ${event.skipped} skipped, ${event.failed} failed`;
    }
  })();
  return `#${seq} ${terminalSafe(text)}`;
}
