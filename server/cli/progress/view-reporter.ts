import { terminalSafe } from "../../../shared/terminal-safe.js";
import { loggedReporter } from "../../log/logged-reporter.js";
import type { Logger } from "../../log/logger.js";
import type { UpReporter } from "../../orchestrate/up.js";
import type { ProgressView } from "./progress-view.js";

/**
 * A run's reporter on the terminal: phases, events and transfers drawn by
 * `view`, notes written with `progress` (made terminal-safe first); phases
 * and notes are also logged (loggedReporter).
 */
export function viewReporter(view: ProgressView, progress: (line: string) => void, log: Logger): UpReporter {
  return loggedReporter(
    {
      phase: (host, text, state) => {
        view.phase(host, text, state);
      },
      event: (envelope) => {
        view.event(envelope);
      },
      transfer: (host, bytesDone, bytesTotal, what) => {
        view.transfer(host, bytesDone, bytesTotal, what);
      },
      note: (text) => {
        progress(terminalSafe(text));
      },
    },
    log,
  );
}
