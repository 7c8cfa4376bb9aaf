import type { Schedule, Timer } from "../../agent/transport/timers.js";

/** Virtual ms 0 as a wall-clock date (what `date()` returns at the start). */
const EPOCH = Date.UTC(2030, 0, 1);

interface Task {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
  cancelled: boolean;
}

/** Timers that can be called off all at once: those of one process, when the simulation kills it. */
export interface TimerGroup {
  readonly schedule: Schedule;
  cancelAll(): void;
}

/**
 * Virtual time for a discrete-event simulation. Nothing runs by itself: the
 * driver `take`s the earliest task (time jumps to it) and runs it. Tasks
 * due at the same ms run in the order they were scheduled, so a run is a
 * function of what was scheduled, never of the wall clock.
 */
export class SimClock {
  #now = 0;
  #order = 0;
  readonly #heap: Task[] = [];

  readonly now = (): number => this.#now;
  readonly date = (): Date => new Date(EPOCH + this.#now);
  /** Drop-in for `setTimeout` (agent/transport/timers.ts). */
  readonly schedule: Schedule = (callback, ms) => this.at(this.#now + Math.max(0, ms), callback);

  /** Runs `run` at virtual time `time` (now, if that has passed). */
  at(time: number, run: () => void): Timer {
    const task: Task = { at: Math.max(time, this.#now), order: this.#order++, run, cancelled: false };
    this.#push(task);
    return {
      cancel: () => {
        task.cancelled = true;
      },
    };
  }

  /** Timers of one process. After `cancelAll` (the process died) the group schedules nothing more. */
  group(): TimerGroup {
    const timers = new Set<Timer>();
    let closed = false;
    return {
      schedule: (callback, ms) => {
        if (closed) return { cancel: () => undefined };
        const timer = this.schedule(() => {
          timers.delete(timer);
          callback();
        }, ms);
        timers.add(timer);
        return timer;
      },
      cancelAll: () => {
        closed = true;
        for (const timer of timers) timer.cancel();
        timers.clear();
      },
    };
  }

  /** Removes the earliest live task due at or before `until`, moves time to it and returns it. */
  take(until = Number.POSITIVE_INFINITY): (() => void) | undefined {
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.at > until) return undefined;
      this.#pop();
      if (top.cancelled) continue;
      this.#now = top.at;
      return top.run;
    }
  }

  /** Moves time forward to `time` without running anything (no-op if it has passed). */
  advanceTo(time: number): void {
    this.#now = Math.max(this.#now, time);
  }

  #before(a: Task, b: Task): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  #push(task: Task): void {
    const heap = this.#heap;
    heap.push(task);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const up = heap[parent];
      if (up === undefined || !this.#before(task, up)) break;
      heap[i] = up;
      i = parent;
    }
    heap[i] = task;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      let best: Task = last;
      const l = heap[left];
      const r = heap[right];
      if (l !== undefined && this.#before(l, best)) {
        smallest = left;
        best = l;
      }
      if (r !== undefined && this.#before(r, best)) {
        smallest = right;
        best = r;
      }
      if (smallest === i) break;
      heap[i] = best;
      i = smallest;
    }
    heap[i] = last;
  }
}
