import type { DiskActivity } from "./crashable-fs.js";
import type { SeededRandom } from "./seeded-random.js";
import type { SimClock } from "./sim-clock.js";
import type { SimLink } from "./sim-link.js";

/** The run every agent of the delivery model reports to. */
export const MODEL_RUN = "run-model";

/** Liveness settings both sides use (virtual ms), short so that dead paths show up quickly. */
export const MODEL_TIMING = {
  pingIntervalMs: 1000,
  deadlineMs: 3000,
  /**
   * A commit group is written this long after its first event was queued,
   * standing in for the provisioner's busy event loop (the previous group's
   * fsync): frames of every host arriving meanwhile join the group, and a
   * kill in between loses them uncommitted and unacked.
   */
  commitDelayMs: 20,
} as const;

/** What the parts of one delivery-model run share. */
export interface ModelWorld {
  readonly clock: SimClock;
  readonly link: SimLink;
  /** Chaos decisions and the provisioner's (agents draw from their own streams). */
  readonly random: SeededRandom;
  readonly disk: DiskActivity;
  /** What went wrong, one line each; a run stops at the first. */
  readonly problems: string[];
  /** Deaths, restarts, refusals and reports, for replaying a failing seed. */
  readonly trace: (line: string) => void;
}
