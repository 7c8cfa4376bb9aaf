import type { EventEnvelope } from "../../shared/protocol.js";

export type HostOutcome = "succeeded" | "failed" | "lost";

/**
 * Knows when a run is over: every host has journaled run.finished, or has
 * been away (never connected, or disconnected) longer than its grace period.
 * A host that comes back within the grace (a reboot) is simply running again.
 * A host counts as away only while it has no welcomed connection: its agent
 * may dial back before `expect` is called (the depot's agent does while the
 * provisioner still sets up the depot service; a resumed run's agents redial
 * at once), and that must not start a grace that nothing would clear.
 */
export class RunTracker {
  readonly #outcomes = new Map<string, HostOutcome>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Hosts welcomed since their last disconnect. */
  readonly #connected = new Set<string>();
  readonly #waiting: Set<string>;
  readonly #listeners = new Map<string, ((outcome: HostOutcome) => void)[]>();
  #resolve: () => void = () => undefined;
  readonly done: Promise<ReadonlyMap<string, HostOutcome>>;

  constructor(
    hosts: readonly string[],
    private readonly graceMs: number,
    private readonly onLost: (host: string) => void,
  ) {
    this.#waiting = new Set(hosts);
    this.done = new Promise((resolve) => {
      this.#resolve = () => {
        resolve(this.#outcomes);
      };
    });
    if (this.#waiting.size === 0) this.#resolve();
  }

  /** Records a host's outcome from an already-finished run (resume). */
  settled(host: string, outcome: HostOutcome): void {
    this.#finish(host, outcome);
  }

  /**
   * The host is expected to connect (agent started): it has graceMs to say
   * hello, unless it already finished or is connected already.
   */
  expect(host: string): void {
    if (!this.#connected.has(host)) this.#arm(host);
  }

  /** The host's agent was welcomed: it is not away, whatever timer ran. */
  connected(host: string): void {
    this.#connected.add(host);
    this.#disarm(host);
  }

  /** The host's connection ended: it has graceMs to come back (a reboot). */
  disconnected(host: string): void {
    this.#connected.delete(host);
    if (this.#waiting.has(host)) this.#arm(host);
  }

  event(envelope: EventEnvelope): void {
    if (envelope.event.kind === "run.finished") {
      this.#finish(envelope.host, envelope.event.outcome === "succeeded" ? "succeeded" : "failed");
    }
  }

  /** `host`'s outcome, or undefined while it is still awaited (or not part of the run). */
  outcome(host: string): HostOutcome | undefined {
    return this.#outcomes.get(host);
  }

  /** Resolves with `host`'s outcome once it has one (at once when it already has). */
  finished(host: string): Promise<HostOutcome> {
    const outcome = this.#outcomes.get(host);
    if (outcome !== undefined) return Promise.resolve(outcome);
    return new Promise((resolve) => {
      this.#listeners.set(host, [...(this.#listeners.get(host) ?? []), resolve]);
    });
  }

  /** Ends the wait for every host still out (e.g. on interrupt), marking them lost. */
  abandon(): void {
    for (const host of [...this.#waiting]) this.#finish(host, "lost");
  }

  /** Only a host still awaited gets a grace timer: an agent may finish before `expect` is called. */
  #arm(host: string): void {
    if (!this.#waiting.has(host)) return;
    const previous = this.#timers.get(host);
    if (previous !== undefined) clearTimeout(previous);
    this.#timers.set(
      host,
      setTimeout(() => {
        this.onLost(host);
        this.#finish(host, "lost");
      }, this.graceMs),
    );
  }

  #disarm(host: string): void {
    const timer = this.#timers.get(host);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(host);
  }

  #finish(host: string, outcome: HostOutcome): void {
    if (!this.#waiting.delete(host)) return;
    this.#disarm(host);
    this.#outcomes.set(host, outcome);
    for (const listener of this.#listeners.get(host) ?? []) listener(outcome);
    this.#listeners.delete(host);
    if (this.#waiting.size === 0) this.#resolve();
  }
}
