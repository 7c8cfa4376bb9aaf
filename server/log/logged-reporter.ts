import type { UpReporter } from "../orchestrate/up.js";
import type { Logger } from "./logger.js";

/**
 * `reporter` whose phase lines and notes are also logged at info (the log
 * file then reads as the run's story); events are not (the journal has
 * them, and the journal commits are logged at debug), nor transfers.
 */
export function loggedReporter(reporter: UpReporter, log: Logger): UpReporter {
  return {
    phase: (host, text, state) => {
      log.info({ host, ...(state === undefined ? {} : { state }) }, text);
      reporter.phase(host, text, state);
    },
    event: (envelope) => {
      reporter.event(envelope);
    },
    transfer: (host, bytesDone, bytesTotal, what) => {
      reporter.transfer(host, bytesDone, bytesTotal, what);
    },
    note: (text) => {
      log.info(text);
      reporter.note(text);
    },
  };
}
