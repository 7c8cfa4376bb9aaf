import type { Journal } from "../journal/index.js";
import type { Pki } from "../pki/pki.js";
import { RevocationWatcher } from "../pki/revocation-watcher.js";
import type { AgentServer } from "../ws/agent-server.js";
import type { RunTracker } from "./run-tracker.js";
import type { UpReporter } from "./up.js";

export interface RevocationCutOptions {
  readonly pki: Pki;
  readonly server: Pick<AgentServer, "revokeLive">;
  readonly journal: Pick<Journal, "markHostLost">;
  readonly runId: string;
  readonly hosts: readonly string[];
  readonly tracker: Pick<RunTracker, "outcome" | "settled">;
  readonly reporter: Pick<UpReporter, "phase" | "note">;
  /** Default REVOCATION_POLL_MS. */
  readonly pollMs?: number;
}

/** What `up` keeps while the watcher runs. */
export interface RevocationCut {
  /** Hosts of the run revoked while it ran: `up` issues them no new certificate in this run. */
  readonly revoked: ReadonlySet<string>;
  close(): Promise<void>;
}

/**
 * Acts on `groundcrew pki revoke HOST` run beside `up`: a RevocationWatcher
 * reloads the list (new connections with those certificates are refused
 * from then on) and, for each host of the run with new revocations, its live
 * session is cut (`revokeLive`: nothing more of it is journaled or acked),
 * and, unless the host had already finished, the journal marks it lost with
 * the reason, the terminal shows it, and the run stops waiting for it.
 * Hosts outside the run are only refused.
 */
export async function cutOnRevocation(options: RevocationCutOptions): Promise<RevocationCut> {
  const { server, journal, runId, tracker, reporter } = options;
  const inRun = new Set(options.hosts);
  const revoked = new Set<string>();
  const watcher = await RevocationWatcher.start({
    pki: options.pki,
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    onRevoked: (host, serials) => {
      if (!inRun.has(host)) return;
      revoked.add(host);
      const cut = server.revokeLive(host);
      if (tracker.outcome(host) !== undefined) {
        reporter.note(`${host}: certificate revoked${cut ? "; its agent's session was cut" : ""}`);
        return;
      }
      const reason = `certificate revoked (${serials.length} serial(s))${cut ? "; live session cut" : ""}`;
      try {
        journal.markHostLost(runId, host, reason);
      } catch (error) {
        reporter.note(
          `${host}: ${reason}, but the journal could not record it: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      reporter.phase(host, `${reason}: out of this run`, "lost");
      tracker.settled(host, "lost");
    },
    onError: (error) => {
      reporter.note(`revocation list: ${error.message}`);
    },
  });
  return { revoked, close: () => watcher.close() };
}
