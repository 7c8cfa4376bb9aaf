import type { ErrorCode } from "../../shared/errors.js";
import type { EventEnvelope } from "../../shared/protocol.js";
import { ENVELOPE_REFUSALS, type GroupAppendResult } from "../journal/index.js";

/**
 * Where the agent server commits events (the journal, or a fake in tests).
 *
 * Contract:
 * - `appendGroup` is synchronous and commits its whole group as one
 *   transaction, returning one result per envelope, in order, only once they
 *   are durable; the server acks a seq only after the group holding it
 *   returned. Each envelope is judged as `append` would judge it right after
 *   the ones before it in the group:
 *   - "inserted": new and now committed; "duplicate": the very same
 *     (runId, host, seq) event was already committed (a resend). Both mean
 *     "committed", and both are acked.
 *   - `{ refused }`: the agent sent something wrong (a GroundcrewError with
 *     one of `AGENT_FAULT_CODES`: a gap, a conflicting replay, an unknown run
 *     or host): nothing of it was written, the others still are; its
 *     connection is dropped as a protocol violation. The later envelopes of
 *     the same run and host are "skipped" (not written).
 * - Events of one (runId, host) must arrive contiguously: an event whose seq
 *   is not the next one is refused with JOURNAL_GAP.
 * - It throws on any other failure, having committed nothing of the group.
 *   A retryable GroundcrewError (disk full, I/O: JOURNAL_WRITE_FAILED) means
 *   the journal cannot take writes for now: the events are held unacked and
 *   retried, connections stay open (see GroupCommit and `isJournalStall`).
 *   Anything else is the provisioner's trouble: the connections of the group
 *   are closed with 1011 and their agents resend after reconnecting, since
 *   nothing was acked.
 * - `append` is one event alone, with the same rules, throwing its refusal.
 */
export interface JournalSink {
  append(envelope: EventEnvelope): "inserted" | "duplicate";
  appendGroup(envelopes: readonly EventEnvelope[]): GroupAppendResult[];
}

/** Journal error codes that blame the agent's frame rather than the provisioner. */
export const AGENT_FAULT_CODES: readonly ErrorCode[] = ENVELOPE_REFUSALS;
