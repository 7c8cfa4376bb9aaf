import type { RunTracker } from "./run-tracker.js";

export interface HostContactDeps {
  readonly tracker: Pick<RunTracker, "connected" | "disconnected">;
  /** Marks the host lost in the run's journal (`Journal.markHostLost`), with the reason. */
  readonly markLost: (host: string, reason: string) => void;
  /** Reports to the operator (UpReporter.phase). */
  readonly report: (host: string, text: string) => void;
  /** The agent server's ping deadline: a connection silent for longer is dropped. */
  readonly deadlineMs: number;
  /** How long the host then has to come back (`--host-grace`). */
  readonly graceMs: number;
}

/**
 * How `up` follows each host's connection. Contract:
 *
 * - `silent`: the agent server dropped the host's connection because it was
 *   silent past the ping deadline (no frame, no pong: a path that died with
 *   no FIN or RST). The host is marked lost in the journal at once, so
 *   `status` shows it lost with the reason while it is away, and it is
 *   reported; its grace starts (`tracker.disconnected`), first, so that a
 *   journal that cannot write (the throw is the caller's) does not stop it.
 * - `welcomed`: its agent said hello and was welcomed. After `silent`, that
 *   is reported as the host being back; the journal keeps the lost mark as a
 *   record, and the host's state follows the events it delivers.
 * - `disconnected`: a connection ended (closed, or after `silent`); only the
 *   grace decides. A clean close (agent restart, reboot) marks nothing.
 */
export class HostContact {
  readonly #lost = new Set<string>();

  constructor(private readonly deps: HostContactDeps) {}

  silent(host: string): void {
    const { deadlineMs, graceMs } = this.deps;
    this.deps.tracker.disconnected(host);
    this.#lost.add(host);
    const silence = `silent for more than ${seconds(deadlineMs)} s (ping deadline)`;
    this.deps.report(
      host,
      `connection lost: ${silence}; waiting up to ${seconds(graceMs)} s for it to come back`,
    );
    // Last: a journal that cannot write (disk full) throws, and the grace must already run.
    this.deps.markLost(host, `connection lost: ${silence}; waiting up to ${seconds(graceMs)} s for it`);
  }

  welcomed(host: string): void {
    this.deps.tracker.connected(host);
    if (this.#lost.delete(host))
      this.deps.report(host, "back in contact: its agent redialed and resends what it holds");
  }

  disconnected(host: string): void {
    this.deps.tracker.disconnected(host);
  }
}

function seconds(ms: number): string {
  return String(Math.round(ms / 1000));
}
