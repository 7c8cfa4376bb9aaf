import type { EventEnvelope } from "../../shared/protocol.js";
import type { Outbox } from "./outbox.js";

/** Hands one event to the channel (AgentClient.send): false when no session is welcomed, and nothing is queued. */
export type SendEnvelope = (envelope: EventEnvelope) => boolean;

/**
 * Delivers an outbox over the agent channel, whatever happens to the
 * connection in between:
 *
 * - each event is sent as soon as it is durably appended; when no session
 *   is welcomed the channel drops it, and it waits on disk;
 * - on every welcome, the outbox first takes the provisioner's `ackedSeq`
 *   as an ack (acks of a dead connection may never have arrived), then
 *   everything after `ackedSeq` is resent, in seq order;
 * - on every ack, the events it covers are deleted.
 *
 * Contract: an event leaves the outbox only once a welcome or an ack
 * covers it, and the provisioner sends both only after its journal commit.
 * Resends may reach the provisioner twice; the journal dedupes them on
 * (run, host, seq).
 */
export class OutboxDelivery {
  readonly #unsubscribe: () => void;

  constructor(
    private readonly outbox: Outbox,
    private readonly send: SendEnvelope,
  ) {
    this.#unsubscribe = outbox.onAppend((envelope) => {
      send(envelope);
    });
  }

  /** Every appended event is acknowledged. */
  get drained(): boolean {
    return this.outbox.ackedSeq >= this.outbox.lastSeq;
  }

  /** For AgentClient's onWelcome. Resolves once the catch-up ack is on disk; rejects as Outbox.ack does. */
  welcomed(ackedSeq: number): Promise<void> {
    const caughtUp = ackedSeq > this.outbox.ackedSeq ? this.outbox.ack(ackedSeq) : Promise.resolve();
    for (const envelope of this.outbox.pending(ackedSeq)) this.send(envelope);
    return caughtUp;
  }

  /** For AgentClient's onAck: deletes every event with seq ≤ `seq`. Rejects as Outbox.ack does. */
  acked(seq: number): Promise<void> {
    return this.outbox.ack(seq);
  }

  /** No more sends on append. */
  stop(): void {
    this.#unsubscribe();
  }
}
