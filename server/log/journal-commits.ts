import { isGroundcrewError } from "../../shared/errors.js";
import type { EventEnvelope } from "../../shared/protocol.js";
import type { GroupAppendResult } from "../journal/index.js";
import type { JournalSink } from "../ws/journal-sink.js";
import type { Logger } from "./logger.js";

/** What a run's journal took, summed. */
export interface JournalCommits {
  readonly inserted: number;
  readonly duplicates: number;
  readonly refused: number;
}

/** Event kinds that are not worth a line each: a chatty step sends thousands. */
const COUNTED_ONLY = new Set<EventEnvelope["event"]["kind"]>(["step.log", "step.progress"]);

/**
 * `sink` with its commits logged at debug: one line per lifecycle event
 * (host, seq, kind, inserted or duplicate), never its body; log lines and
 * progress only counted. A refused event is logged with its code at warn; a
 * failed commit is logged and rethrown unchanged, at warn, or at debug when
 * retryable (a journal that cannot write for now is retried every ping
 * interval and reported once elsewhere). `summary()` logs the totals at
 * info and returns them.
 */
export function loggedSink(sink: JournalSink, log: Logger): JournalSink & { summary(): JournalCommits } {
  const counts = { inserted: 0, duplicates: 0, refused: 0 };
  const settled = (envelope: EventEnvelope, result: GroupAppendResult): void => {
    const { host, seq } = envelope;
    const kind = envelope.event.kind;
    if (result === "skipped") return;
    if (typeof result === "object") {
      counts.refused++;
      log.warn(
        { host, seq, kind, code: result.refused.code, err: result.refused },
        "journal refused an event",
      );
      return;
    }
    if (result === "inserted") counts.inserted++;
    else counts.duplicates++;
    if (!COUNTED_ONLY.has(kind)) log.debug({ host, seq, kind, result }, "journal commit");
  };
  const failed = (envelopes: readonly EventEnvelope[], error: unknown): void => {
    const code = isGroundcrewError(error) ? error.code : undefined;
    const retryable = isGroundcrewError(error) && error.retryable;
    const first = envelopes[0];
    log[retryable ? "debug" : "warn"](
      { host: first?.host, seq: first?.seq, events: envelopes.length, code, err: error },
      "journal commit failed",
    );
  };
  return {
    append: (envelope) => {
      let result: "inserted" | "duplicate";
      try {
        result = sink.append(envelope);
      } catch (error) {
        if (isGroundcrewError(error) && !error.retryable) settled(envelope, { refused: error });
        else failed([envelope], error);
        throw error;
      }
      settled(envelope, result);
      return result;
    },
    appendGroup: (envelopes) => {
      let results: GroupAppendResult[];
      try {
        results = sink.appendGroup(envelopes);
      } catch (error) {
        failed(envelopes, error);
        throw error;
      }
      envelopes.forEach((envelope, at) => {
        const result = results[at];
        if (result !== undefined) settled(envelope, result);
      });
      return results;
    },
    summary: () => {
      log.info({ ...counts }, "journal: events committed");
      return { ...counts };
    },
  };
}
