import type { EventEnvelope } from "../../shared/protocol.js";
import type { GroupAppendResult } from "../journal/index.js";
import { JournalOutage, isJournalStall, type JournalOutageNotice } from "./journal-outage.js";
import type { JournalSink } from "./journal-sink.js";

/** One event of a lane and what the journal did with it. */
export interface Settled {
  readonly envelope: EventEnvelope;
  readonly result: GroupAppendResult;
}

/**
 * What GroupCommit needs of a connection (a "lane": one agent's events, in
 * the order they arrived). AgentConnection is the only one in the product.
 */
export interface CommitLane {
  /**
   * Whether its queued events are still to be committed: welcomed, not
   * closing, holding nothing. Queued events of a lane that closed are
   * dropped uncommitted (they were never acked: the agent resends them).
   */
  readonly accepting: boolean;
  /** The event a stall left it holding, while it is open; undefined otherwise. */
  readonly held: EventEnvelope | undefined;
  /**
   * Its events of one committed group, in arrival order, each with what the
   * journal did with it. `retried`: the group was a retry of its held event.
   */
  settle(settled: readonly Settled[], retried: boolean): void;
  /**
   * A group was refused with a stall (the journal cannot take writes for
   * now): hold `first`, its first event in that group; `ignored` more of its
   * events were dropped uncommitted (they stay in the agent's outbox).
   */
  hold(first: EventEnvelope, ignored: number): void;
  /** A group with its events failed otherwise (nothing committed, not a stall); `firstSeq` was its first. */
  fail(firstSeq: number, error: unknown): void;
}

/** Default cap of events in one transaction. */
export const DEFAULT_GROUP_EVENTS = 500;
/** Default cap of frame bytes in one transaction (a group always takes at least one event). */
export const DEFAULT_GROUP_BYTES = 4 << 20;

export interface GroupCommitOptions {
  readonly sink: JournalSink;
  /**
   * Runs `flush` soon, after the frames already read: default setImmediate,
   * so every frame read in one turn of the event loop, from every
   * connection, goes into one group, and the loop serves pings, acks and
   * handshakes between two groups. Tests pass a synchronous or virtual-time one.
   */
  readonly schedule?: (flush: () => void) => void;
  /** Most events per transaction; default DEFAULT_GROUP_EVENTS. */
  readonly maxEvents?: number;
  /** Most frame bytes per transaction; default DEFAULT_GROUP_BYTES. */
  readonly maxBytes?: number;
  /** Clock for outage notices, in ms. Default Date.now. */
  readonly now?: () => number;
  /** An outage of the journal starts or ends (once each); see JournalOutage. */
  readonly onOutage?: (notice: JournalOutageNotice) => void;
}

interface Entry {
  readonly lane: CommitLane;
  readonly envelope: EventEnvelope;
  readonly bytes: number;
}

function byLane<T extends { readonly lane: CommitLane }>(items: readonly T[]): Map<CommitLane, T[]> {
  const lanes = new Map<CommitLane, T[]>();
  for (const item of items) {
    const own = lanes.get(item.lane);
    if (own === undefined) lanes.set(item.lane, [item]);
    else own.push(item);
  }
  return lanes;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen < 1) throw new RangeError(`${name} must be a whole number ≥ 1`);
  return chosen;
}

/**
 * Group commit of the agents' events: connections validate each frame as it
 * arrives and queue its event here; the queue is committed in groups, one
 * journal transaction (one WAL sync) per group, instead of one per frame.
 *
 * Contract:
 * - A group is at most `maxEvents` events and `maxBytes` frame bytes, taken
 *   in arrival order across every lane; the next group is scheduled again,
 *   so the event loop runs between two groups.
 * - Each lane's events are judged in order as if committed one by one on
 *   arrival (the journal's append rule inside one transaction). Only after
 *   the transaction returned does a lane `settle`: it acks its highest
 *   committed seq, passes on its new events, and is dropped if the journal
 *   refused one of its events. An ack never covers an uncommitted event.
 * - A group the journal refuses with a stall commits nothing: every lane in
 *   it holds its first event of the group and drops its others, queued ones
 *   included (`hold`). `retryHeld` (every ping interval) retries the held
 *   events, oldest stall first, as groups, and stops at the first group still
 *   refused: a full disk costs one failed transaction per tick. The outage
 *   is announced once when it starts and once when a group commits with no
 *   lane left holding (JournalOutage; a failed transaction is one refused
 *   commit). A holding lane queues nothing: its new frames are ignored.
 * - Any other failure commits nothing and `fail`s every lane of the group.
 * - The queued events of a lane that stops accepting (closing, revoked) are
 *   dropped uncommitted; none of them was acked, so its agent resends them.
 * - `settleNow` commits one lane's queued events at once, alone: before a
 *   connection is dropped for a protocol violation, so what came before the
 *   violation is journaled and acked as it would have been on arrival.
 */
export class GroupCommit {
  readonly #sink: JournalSink;
  readonly #schedule: (flush: () => void) => void;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #onOutage: (notice: JournalOutageNotice) => void;
  #queue: Entry[] = [];
  #head = 0;
  /** Queued events per lane. */
  readonly #queued = new Map<CommitLane, number>();
  /** Lanes holding an event, in the order they stalled, with the held frame's bytes. */
  readonly #stalled = new Map<CommitLane, number>();
  readonly #outage = new JournalOutage();
  #scheduled = false;

  constructor(options: GroupCommitOptions) {
    this.#sink = options.sink;
    this.#schedule =
      options.schedule ??
      ((flush) => {
        setImmediate(flush);
      });
    this.#maxEvents = positive(options.maxEvents, DEFAULT_GROUP_EVENTS, "maxEvents");
    this.#maxBytes = positive(options.maxBytes, DEFAULT_GROUP_BYTES, "maxBytes");
    this.#now = options.now ?? Date.now;
    this.#onOutage = options.onOutage ?? (() => undefined);
  }

  /** Queues `envelope` of `lane` (a frame of `bytes`) for the next group. */
  enqueue(lane: CommitLane, envelope: EventEnvelope, bytes: number): void {
    this.#queue.push({ lane, envelope, bytes });
    this.#queued.set(lane, (this.#queued.get(lane) ?? 0) + 1);
    this.#scheduleFlush();
  }

  /** Commits `lane`'s queued events now, in a group of their own (if it still accepts them). */
  settleNow(lane: CommitLane): void {
    if (!this.#queued.has(lane)) return;
    const own = this.#purge(lane);
    if (own.length > 0 && lane.accepting) this.#commit(own, false);
  }

  /** `lane` is gone: its queued events are dropped uncommitted and its held event forgotten. */
  forget(lane: CommitLane): void {
    this.#purge(lane);
    this.#stalled.delete(lane);
  }

  /** Retries the held events (every ping interval), oldest stall first, until a group is refused again. */
  retryHeld(): void {
    for (;;) {
      const group: Entry[] = [];
      let bytes = 0;
      for (const [lane, heldBytes] of this.#stalled) {
        const held = lane.held;
        if (held === undefined) {
          this.#stalled.delete(lane);
          continue;
        }
        if (group.length >= this.#maxEvents || (group.length > 0 && bytes + heldBytes > this.#maxBytes))
          break;
        group.push({ lane, envelope: held, bytes: heldBytes });
        bytes += heldBytes;
      }
      if (group.length === 0 || this.#commit(group, true) === "stalled") return;
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const group = this.#take();
    if (group.length > 0) this.#commit(group, false);
    if (this.#head < this.#queue.length) this.#scheduleFlush();
  };

  #scheduleFlush(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(this.#flush);
  }

  /** The next group off the queue; events of lanes that no longer accept them are dropped on the way. */
  #take(): Entry[] {
    const group: Entry[] = [];
    let bytes = 0;
    while (this.#head < this.#queue.length) {
      const entry = this.#queue[this.#head];
      if (entry === undefined) break;
      if (group.length >= this.#maxEvents || (group.length > 0 && bytes + entry.bytes > this.#maxBytes))
        break;
      this.#head += 1;
      this.#dequeued(entry.lane);
      if (!entry.lane.accepting) continue;
      group.push(entry);
      bytes += entry.bytes;
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return group;
  }

  /** Takes every queued event of `lane` off the queue and returns them, in order. */
  #purge(lane: CommitLane): Entry[] {
    if (!this.#queued.has(lane)) return [];
    const own: Entry[] = [];
    const rest: Entry[] = [];
    for (let i = this.#head; i < this.#queue.length; i++) {
      const entry = this.#queue[i];
      if (entry !== undefined) (entry.lane === lane ? own : rest).push(entry);
    }
    this.#queue = rest;
    this.#head = 0;
    this.#queued.delete(lane);
    return own;
  }

  #dequeued(lane: CommitLane): void {
    const left = (this.#queued.get(lane) ?? 0) - 1;
    if (left > 0) this.#queued.set(lane, left);
    else this.#queued.delete(lane);
  }

  /** One transaction for `group`, then what follows from it for each lane. */
  #commit(group: readonly Entry[], retried: boolean): "committed" | "stalled" | "failed" {
    let results: GroupAppendResult[];
    try {
      results = this.#sink.appendGroup(group.map((entry) => entry.envelope));
      if (results.length !== group.length) {
        throw new Error(`the journal sink answered ${results.length} results for ${group.length} events`);
      }
    } catch (error) {
      const lanes = byLane(group);
      if (isJournalStall(error)) {
        if (!retried) {
          for (const [lane, own] of lanes) {
            const first = own[0];
            if (first === undefined) continue;
            const later = this.#purge(lane).length;
            this.#stalled.set(lane, first.bytes);
            lane.hold(first.envelope, own.length - 1 + later);
          }
        }
        const notice = this.#outage.failed(this.#now(), error);
        if (notice !== undefined) this.#onOutage(notice);
        return "stalled";
      }
      for (const [lane, own] of lanes) {
        this.#purge(lane);
        this.#stalled.delete(lane);
        lane.fail(own[0]?.envelope.seq ?? 0, error);
      }
      return "failed";
    }
    const settled = group.map((entry, i) => ({
      lane: entry.lane,
      envelope: entry.envelope,
      result: results[i] ?? "skipped",
    }));
    let committed = false;
    for (const [lane, own] of byLane(settled)) {
      if (retried) this.#stalled.delete(lane);
      if (own.some(({ result }) => result === "inserted" || result === "duplicate")) committed = true;
      lane.settle(own, retried);
    }
    if (committed) {
      const notice = this.#outage.committed(this.#now(), this.#stalled.size);
      if (notice !== undefined) this.#onOutage(notice);
    }
    return "committed";
  }
}
