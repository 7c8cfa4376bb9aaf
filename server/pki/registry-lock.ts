import { setTimeout as sleep } from "node:timers/promises";
import { GroundcrewError, isGroundcrewError } from "../../shared/errors.js";
import { JournalLock } from "../journal/lock.js";

/** The lock file beside the registry files, held while revoked.json is read, changed and written. */
export const REGISTRY_LOCK = "registry.lock";
/** How long a revocation waits for another process's to finish. */
const DEFAULT_WAIT_MS = 10_000;
const RETRY_MS = 25;

/**
 * Runs `work` while holding the lock file `lockPath`: the same single-owner
 * file the journal uses (O_EXCL, "<pid> <start time>", a dead owner's lock
 * taken over), waited for up to `waitMs` when a live process holds it, so
 * two processes revoking at once cannot overwrite each other's revocation.
 * Throws PKI_BUSY after the wait, PKI_STATE_INVALID when the lock file
 * cannot be made; the lock is released however `work` ends.
 */
export async function withRegistryLock<T>(
  lockPath: string,
  work: () => Promise<T>,
  waitMs = DEFAULT_WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  let lock: JournalLock | undefined;
  while (lock === undefined) {
    try {
      lock = JournalLock.acquire(lockPath, lockPath);
    } catch (error) {
      if (!isGroundcrewError(error, "JOURNAL_IN_USE")) {
        throw new GroundcrewError("PKI_STATE_INVALID", `cannot take the PKI lock ${lockPath}`, {
          cause: error,
          context: { path: lockPath },
        });
      }
      if (Date.now() >= deadline) {
        const pid = error.context["pid"];
        throw new GroundcrewError(
          "PKI_BUSY",
          `${lockPath} is held by another groundcrew process${pid === undefined ? "" : ` (pid ${String(pid)})`}; try again`,
          { context: { path: lockPath }, retryable: true },
        );
      }
      await sleep(RETRY_MS);
    }
  }
  try {
    return await work();
  } finally {
    lock.release();
  }
}
