import type { ErrorCode } from "../../shared/errors.js";
import type { EventEnvelope } from "../../shared/protocol.js";

/**
 * Where the agent server commits events (the journal, or a fake in tests).
 *
 * Contract:
 * - `append` is synchronous and returns only once the event is durable;
 *   the server acks a seq only after `append` returned for it.
 * - "inserted": the event was new and is now committed. "duplicate": the very
 *   same (runId, host, seq) event was already committed (a resend). Both mean
 *   "committed", and both are acked.
 * - Events of one (runId, host) must arrive contiguously: an event whose seq
 *   is not the next one throws a GroundcrewError JOURNAL_GAP.
 * - It throws on any failure, having changed nothing. A GroundcrewError
 *   with one of `AGENT_FAULT_CODES` means the agent sent something wrong:
 *   its connection is dropped as a protocol violation. Any other retryable
 *   GroundcrewError (disk full, I/O: JOURNAL_WRITE_FAILED) means the journal
 *   cannot take writes for now: the event is held unacked and retried, the
 *   connection stays open (see AgentConnection and `isJournalStall`).
 *   Anything else is the provisioner's trouble: the connection is closed
 *   with 1011 and the agent resends after reconnecting, since nothing was acked.
 */
export interface JournalSink {
  append(envelope: EventEnvelope): "inserted" | "duplicate";
}

/** Journal error codes that blame the agent's frame rather than the provisioner. */
export const AGENT_FAULT_CODES: readonly ErrorCode[] = [
  "JOURNAL_GAP",
  "JOURNAL_CONFLICT",
  "JOURNAL_UNKNOWN_RUN",
  "JOURNAL_UNKNOWN_HOST",
  "JOURNAL_INVALID",
];
