import path from "node:path";
import type { Fs } from "../../shared/host-io.js";
import { eventEnvelopeSchema, type AgentEvent, type EventEnvelope } from "../../shared/protocol.js";
import { fileOp } from "../runner/host-calls.js";
import type { Reporter } from "../runner/reporter.js";
import { StepError } from "../runner/step-error.js";
import {
  ACKED_FILE,
  classifyName,
  eventFileName,
  parseAcked,
  parseEventFile,
  serializeAcked,
} from "./outbox-files.js";
import { serial } from "./serial.js";

export const DEFAULT_MAX_PENDING = 10_000;
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

export interface OutboxOptions {
  /** Past this many unacked events, `step.progress` and `step.log` are dropped (state changes never are). */
  readonly maxPending?: number;
}

/** Events that may be dropped under pressure; every other kind is a state change and always kept. */
function isCoalescible(
  event: AgentEvent,
): event is Extract<AgentEvent, { kind: "step.progress" | "step.log" }> {
  return event.kind === "step.progress" || event.kind === "step.log";
}

/**
 * The agent's on-disk outbox for one run, `<stateDir>/outbox/<runId>/`: one
 * file per unacked event (`<seq>.json`, written atomically and fsynced) and
 * the acked mark (`acked.json`). Seqs start at 1, have no gaps, and continue
 * across restarts: `open` finds the unacked events and the next seq.
 * Operations run one at a time, in call order.
 */
export class Outbox {
  private readonly queue = serial();
  private readonly listeners = new Set<(envelope: EventEnvelope) => void>();
  private dropped: { stepId: string; count: number } | undefined;

  private constructor(
    private readonly fs: Fs,
    readonly dir: string,
    private readonly runId: string,
    private readonly host: string,
    private readonly clock: () => Date,
    private readonly maxPending: number,
    private acked: number,
    private last: number,
    private readonly unacked: EventEnvelope[],
  ) {}

  /**
   * Opens (creating it when needed) the outbox of `runId` under `stateDir`.
   * Leftover temp files and event files the acked mark already covers are
   * removed. AGENT_STATE_CORRUPT when a file is invalid, belongs to another
   * run or host, or the unacked seqs have a gap.
   */
  static async open(
    fs: Fs,
    stateDir: string,
    runId: string,
    host: string,
    clock: () => Date = () => new Date(),
    options: OutboxOptions = {},
  ): Promise<Outbox> {
    const dir = path.join(stateDir, "outbox", runId);
    const names = await fileOp("open the outbox", dir, async () => {
      await fs.mkdirp(dir, DIR_MODE);
      return fs.readDir(dir);
    });
    const ackedPath = path.join(dir, ACKED_FILE);
    const ackedText = await fileOp("read", ackedPath, () => fs.readTextIfExists(ackedPath));
    const acked = ackedText === undefined ? 0 : parseAcked(ackedPath, ackedText);
    const unacked: EventEnvelope[] = [];
    for (const name of names) {
      const file = path.join(dir, name);
      const seq = classifyName(name);
      if (seq === undefined) continue;
      if (seq === "temp" || seq <= acked) {
        await fileOp("remove", file, () => fs.remove(file));
        continue;
      }
      const text = await fileOp("read", file, () => fs.readText(file));
      unacked.push(parseEventFile(file, text, { runId, host, seq }));
    }
    unacked.forEach((envelope, i) => {
      if (envelope.seq !== acked + i + 1) {
        throw new StepError("AGENT_STATE_CORRUPT", `outbox ${dir} misses event ${acked + i + 1}`, {
          context: { path: dir },
        });
      }
    });
    const last = acked + unacked.length;
    const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    return new Outbox(fs, dir, runId, host, clock, maxPending, acked, last, unacked);
  }

  /** Highest seq the provisioner acknowledged (0 before the first ack). */
  get ackedSeq(): number {
    return this.acked;
  }

  /** Highest seq assigned so far (0 before the first event). */
  get lastSeq(): number {
    return this.last;
  }

  /**
   * Assigns the next seq and writes the envelope durably before resolving.
   * Past `maxPending` unacked events, a `step.progress`/`step.log` event is
   * dropped instead (resolves undefined; it gets no seq, so seqs stay
   * gapless); the next event that is kept is preceded by one `step.log`
   * saying how many were dropped. Rejects (HOST_IO_FAILED) when the write
   * fails; the seq is then not used.
   */
  append(event: AgentEvent): Promise<EventEnvelope | undefined> {
    return this.queue(async () => {
      const full = this.unacked.length >= this.maxPending;
      if (full && isCoalescible(event)) {
        const count = this.dropped?.stepId === event.stepId ? this.dropped.count : 0;
        if (this.dropped !== undefined && this.dropped.stepId !== event.stepId) await this.noteDropped();
        this.dropped = { stepId: event.stepId, count: count + 1 };
        return undefined;
      }
      await this.noteDropped();
      return this.write(event);
    });
  }

  /** Unacked events with seq > afterSeq, in seq order. */
  pending(afterSeq = 0): EventEnvelope[] {
    return this.unacked.filter((envelope) => envelope.seq > afterSeq);
  }

  /**
   * Cumulative: every event with seq ≤ `seq` is journaled. Persists the acked
   * mark, then deletes those events. An ack at or below the mark is a no-op.
   * An ack beyond the last seq means the provisioner journaled events this
   * outbox no longer has (its state was lost): the next seq continues after it.
   */
  ack(seq: number): Promise<void> {
    return this.queue(async () => {
      if (seq <= this.acked) return;
      const ackedPath = path.join(this.dir, ACKED_FILE);
      await fileOp("write", ackedPath, () =>
        this.fs.writeFileAtomic(ackedPath, serializeAcked(seq), FILE_MODE),
      );
      this.acked = seq;
      this.last = Math.max(this.last, seq);
      const done = this.unacked.filter((envelope) => envelope.seq <= seq);
      this.unacked.splice(0, done.length);
      for (const envelope of done) {
        const file = path.join(this.dir, eventFileName(envelope.seq));
        await fileOp("remove", file, () => this.fs.remove(file));
      }
    });
  }

  /** Calls `listener` after each event is durably appended. Returns the unsubscribe function. */
  onAppend(listener: (envelope: EventEnvelope) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async noteDropped(): Promise<void> {
    const dropped = this.dropped;
    if (dropped === undefined) return;
    this.dropped = undefined;
    const line = `groundcrew: ${dropped.count} progress/log event(s) dropped while the outbox was full`;
    await this.write({ kind: "step.log", stepId: dropped.stepId, stream: "info", line });
  }

  private async write(event: AgentEvent): Promise<EventEnvelope> {
    const envelope = eventEnvelopeSchema.parse({
      runId: this.runId,
      host: this.host,
      seq: this.last + 1,
      at: this.clock().toISOString(),
      event,
    });
    const file = path.join(this.dir, eventFileName(envelope.seq));
    await fileOp("write", file, () =>
      this.fs.writeFileAtomic(file, `${JSON.stringify(envelope)}\n`, FILE_MODE),
    );
    this.last = envelope.seq;
    this.unacked.push(envelope);
    for (const listener of this.listeners) listener(envelope);
    return envelope;
  }
}

/** A Reporter that appends every event to `outbox` (durable before emit resolves). */
export function outboxReporter(outbox: Outbox): Reporter {
  return {
    async emit(event) {
      await outbox.append(event);
    },
  };
}
