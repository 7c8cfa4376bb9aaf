import { watch, type FSWatcher } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import type { Pki } from "./pki.js";

/** The file `Pki.revoke` writes (atomically: a new file renamed over the old one). */
const REVOKED_FILE = "revoked.json";
/** How often revoked.json is looked at besides fs.watch (alone where fs.watch does not work). */
export const REVOCATION_POLL_MS = 1000;

export interface RevocationWatcherOptions {
  readonly pki: Pki;
  /**
   * The serials of `host` revoked since the last call (or since `pki` was
   * opened, for the first), once `pki.isRevoked` already answers true for
   * them. Must not throw.
   */
  readonly onRevoked: (host: string, serials: readonly string[]) => void;
  /** A damaged revoked.json, or one that cannot be read: what was revoked before stays revoked. */
  readonly onError?: (error: GroundcrewError) => void;
  /** Default REVOCATION_POLL_MS. */
  readonly pollMs?: number;
  /** False: poll only (what happens where fs.watch fails). Default true. */
  readonly fsWatch?: boolean;
}

/**
 * Notices revocations made by another process (`groundcrew pki revoke`) in
 * `<pki.dir>/revoked.json` while a provisioner runs: fs.watch on the PKI
 * directory for promptness, and a stat every `pollMs` in case fs.watch
 * misses an event or is not available. A change reloads the list through
 * `pki.reloadRevoked()`, so new connections with those serials are refused,
 * then reports each host with new revocations to `onRevoked` (to cut its
 * live session). It reads once at start, so a revocation made between
 * `Pki.open` and `start` is not missed.
 */
export class RevocationWatcher {
  readonly #file: string;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The file's identity at the last reload ("absent" when missing). */
  #seen: string | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  private constructor(private readonly options: RevocationWatcherOptions) {
    this.#file = path.join(options.pki.dir, REVOKED_FILE);
  }

  /** Starts watching and resolves after the first reload. */
  static async start(options: RevocationWatcherOptions): Promise<RevocationWatcher> {
    const watcher = new RevocationWatcher(options);
    if (options.fsWatch !== false) watcher.#watch();
    watcher.#timer = setInterval(() => {
      watcher.#check(false);
    }, options.pollMs ?? REVOCATION_POLL_MS);
    watcher.#timer.unref();
    watcher.#check(true);
    await watcher.#running;
    return watcher;
  }

  /** Whether fs.watch is in use (false: polling only). */
  get watching(): boolean {
    return this.#watcher !== undefined;
  }

  /** Stops watching; resolves once a reload in progress has ended. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#running;
  }

  #watch(): void {
    try {
      this.#watcher = watch(this.options.pki.dir, { persistent: false }, (_event, name) => {
        if (name === null || name === REVOKED_FILE) this.#check(false);
      });
      this.#watcher.on("error", () => {
        // The directory went away or the watch broke: polling carries on alone.
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch {
      this.#watcher = undefined;
    }
  }

  /** Reloads when the file changed since the last reload (always when `force`); one reload at a time. */
  #check(force: boolean): void {
    if (this.#closed) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#reloadIfChanged(force).finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.#check(false);
      }
    });
  }

  async #reloadIfChanged(force: boolean): Promise<void> {
    const identity = await fileIdentity(this.#file);
    if (!force && identity === this.#seen) return;
    // Recorded before reading: a change made while reading is seen at the next check.
    this.#seen = identity;
    let added: Awaited<ReturnType<Pki["reloadRevoked"]>>;
    try {
      added = await this.options.pki.reloadRevoked();
    } catch (error) {
      this.options.onError?.(
        error instanceof GroundcrewError
          ? error
          : new GroundcrewError("PKI_STATE_INVALID", `cannot read ${this.#file}`, { cause: error }),
      );
      return;
    }
    const byHost = new Map<string, string[]>();
    for (const { host, serial } of added) byHost.set(host, [...(byHost.get(host) ?? []), serial]);
    for (const [host, serials] of byHost) {
      if (this.#closed) return;
      try {
        this.options.onRevoked(host, serials);
      } catch (error) {
        this.options.onError?.(
          new GroundcrewError("AGENT_CALLBACK_FAILED", `acting on the revocation of ${host} failed`, {
            cause: error,
            context: { host },
          }),
        );
      }
    }
  }
}

async function fileIdentity(file: string): Promise<string> {
  try {
    const info = await stat(file, { bigint: true });
    return `${info.ino}:${info.size}:${info.mtimeNs}`;
  } catch {
    return "absent";
  }
}
