import path from "node:path";
import type { Fs } from "../../shared/host-io.js";
import type { SeededRandom } from "./seeded-random.js";
import type { SimClock } from "./sim-clock.js";

/** Real file operations under way, across all the simulated processes sharing one disk. */
export class DiskActivity {
  #inFlight = 0;
  readonly #waiters: (() => void)[] = [];

  /** Counts `operation` until it settles. */
  track<R>(operation: Promise<R>): Promise<R> {
    this.#inFlight += 1;
    return operation.finally(() => {
      this.#inFlight -= 1;
      if (this.#inFlight === 0) for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /**
   * Resolves once no operation is under way and whatever their results set
   * off has run (a macrotask turn after the last one settled, so promise
   * chains started by it have started their next operation, if any).
   */
  async quiet(): Promise<void> {
    do {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
    } while (this.#inFlight > 0);
  }
}

/** What became of the operations in flight when a process died. */
export interface DeathToll {
  readonly landed: number;
  readonly lost: number;
  readonly torn: number;
}

/**
 * An Fs over a real one, for one simulated process that can die like
 * `kill -9`. Each operation takes virtual time: it is done on the real disk
 * only when its completion comes up on the clock (after [min, max] ms), so
 * other tasks (frames, timers) run while it is in flight. `kill` ends the
 * process: each operation in flight then lands whole, never happens, or (a
 * writeFileAtomic) leaves only its partial temp file, drawn from `random`;
 * none of them, nor any later one, ever settles for the dead process's
 * code. What reached the disk stays there for the next process. Real work
 * is tracked in `activity`, so a driver can wait for the disk to go quiet.
 */
export class CrashableFs {
  readonly fs: Fs;
  #dead = false;
  readonly #inFlight = new Set<{
    readonly work: () => Promise<unknown>;
    readonly torn: (() => Promise<void>) | undefined;
  }>();

  constructor(
    inner: Fs,
    private readonly clock: SimClock,
    private readonly random: SeededRandom,
    private readonly activity: DiskActivity,
    private readonly latencyMs: { readonly min: number; readonly max: number },
  ) {
    const op = <A extends unknown[], R>(
      work: (...args: A) => Promise<R>,
      torn?: (...args: A) => Promise<void>,
    ): ((...args: A) => Promise<R>) => {
      return (...args) =>
        this.#run(() => work(...args), torn === undefined ? undefined : () => torn(...args));
    };
    this.fs = {
      readText: op((file) => inner.readText(file)),
      readTextIfExists: op((file) => inner.readTextIfExists(file)),
      readDir: op((dir) => inner.readDir(dir)),
      readLink: op((link) => inner.readLink(link)),
      stat: op((file) => inner.stat(file)),
      statfs: op((file) => inner.statfs(file)),
      writeFileAtomic: op(
        (file, content, mode) => inner.writeFileAtomic(file, content, mode),
        // What an interrupted writeFileAtomic leaves: part of the content in its temp file.
        async (file, content, mode) => {
          const temp = path.join(path.dirname(file), `.${path.basename(file)}.crashed.tmp`);
          const part = typeof content === "string" ? content.slice(0, content.length >> 1) : content;
          await inner.writeFileAtomic(temp, part, mode);
        },
      ),
      mkdirp: op((dir, mode) => inner.mkdirp(dir, mode)),
      remove: op((target) => inner.remove(target)),
      rename: op((from, to) => inner.rename(from, to)),
      chmod: op((target, mode) => inner.chmod(target, mode)),
    };
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Operations of this process in flight. */
  get busy(): boolean {
    return this.#inFlight.size > 0;
  }

  /** The process dies now. Returns what became of the operations it had in flight. */
  kill(): DeathToll {
    if (this.#dead) return { landed: 0, lost: 0, torn: 0 };
    this.#dead = true;
    const toll = { landed: 0, lost: 0, torn: 0 };
    // Whether a dead process's last operations succeed on disk is of no interest to anyone.
    const ignore = (): undefined => undefined;
    for (const operation of this.#inFlight) {
      const roll = this.random.next();
      if (roll < 0.4) {
        toll.landed += 1;
        void this.#count(operation.work()).catch(ignore);
      } else if (roll < 0.7 && operation.torn !== undefined) {
        toll.torn += 1;
        void this.#count(operation.torn()).catch(ignore);
      } else toll.lost += 1;
    }
    this.#inFlight.clear();
    return toll;
  }

  #run<R>(work: () => Promise<R>, torn: (() => Promise<void>) | undefined): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.#dead) return;
      const operation = { work, torn };
      this.#inFlight.add(operation);
      this.clock.at(this.clock.now() + this.random.int(this.latencyMs.min, this.latencyMs.max), () => {
        if (!this.#inFlight.delete(operation)) return;
        this.#count(work()).then(resolve, reject);
      });
    });
  }

  #count<R>(operation: Promise<R>): Promise<R> {
    return this.activity.track(operation);
  }
}
