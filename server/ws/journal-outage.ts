import { isGroundcrewError, type GroundcrewError } from "../../shared/errors.js";
import { AGENT_FAULT_CODES } from "./journal-sink.js";

/**
 * A journal that cannot take writes for now (disk full, I/O error), as the
 * agent channel sees it. An outage starts with the first commit that fails
 * with a retryable error and ends with a commit that succeeds while no
 * connection still holds an uncommitted event. Each start and each end is
 * announced exactly once, however many frames and connections fail in
 * between.
 */
export type JournalOutageNotice =
  | {
      readonly kind: "stalled";
      /** The sink's error for the commit that started the outage (JOURNAL_WRITE_FAILED, retryable). */
      readonly error: GroundcrewError;
    }
  | {
      readonly kind: "resumed";
      /** How long the journal refused writes, in ms. */
      readonly afterMs: number;
      /** Commits that failed during the outage, the first included. */
      readonly failedCommits: number;
    };

/**
 * Whether a sink failure means "the journal cannot take writes for now":
 * a retryable GroundcrewError that does not blame the agent's frame. Such a
 * failure holds the event instead of closing the connection; anything else
 * (a closed journal, a bug) still closes it with 1011.
 */
export function isJournalStall(error: unknown): error is GroundcrewError {
  return isGroundcrewError(error) && error.retryable && !AGENT_FAULT_CODES.includes(error.code);
}

/**
 * The outage state machine, without timers or I/O: `failed` and `committed`
 * return the notice to announce, if any.
 */
export class JournalOutage {
  #since: number | undefined;
  #failedCommits = 0;

  get active(): boolean {
    return this.#since !== undefined;
  }

  /** A commit failed with a stall at `now`: a "stalled" notice when this starts an outage. */
  failed(now: number, error: GroundcrewError): JournalOutageNotice | undefined {
    this.#failedCommits += 1;
    if (this.#since !== undefined) return undefined;
    this.#since = now;
    this.#failedCommits = 1;
    return { kind: "stalled", error };
  }

  /**
   * A commit succeeded at `now`; `stalled` is how many connections still hold
   * an uncommitted event. A "resumed" notice when this ends the outage.
   */
  committed(now: number, stalled: number): JournalOutageNotice | undefined {
    if (this.#since === undefined || stalled > 0) return undefined;
    const notice: JournalOutageNotice = {
      kind: "resumed",
      afterMs: Math.max(0, now - this.#since),
      failedCommits: this.#failedCommits,
    };
    this.#since = undefined;
    this.#failedCommits = 0;
    return notice;
  }
}

/**
 * One line for the terminal about a notice, naming the journal's file: what
 * stopped, that nothing is lost (agents keep their events on disk), and what
 * to do. Contains no text from a host.
 */
export function describeJournalOutage(notice: JournalOutageNotice, journalPath: string): string {
  if (notice.kind === "resumed") {
    const seconds = Math.round(notice.afterMs / 100) / 10;
    return (
      `the journal at ${journalPath} takes writes again after ${String(seconds)} s ` +
      `(${String(notice.failedCommits)} commit(s) refused meanwhile); agents resend the events they kept`
    );
  }
  const sqliteCode = notice.error.context["sqliteCode"];
  const cause = typeof sqliteCode === "string" ? sqliteCode : notice.error.code;
  const full = typeof sqliteCode === "string" && sqliteCode.startsWith("SQLITE_FULL");
  return (
    `the journal at ${journalPath} cannot be written (${cause}${full ? ": its disk is full" : ""}): ` +
    "nothing more is acknowledged; agents keep their events on their hosts until space returns, " +
    `then resend them; free space on the journal's disk to continue`
  );
}
