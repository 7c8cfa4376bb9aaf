import { open, readFile, unlink } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { Fs } from "../../shared/host-io.js";
import { isOwnerAlive, ownerToken } from "./owner.js";

function errorCode(error: unknown): unknown {
  return error instanceof Error && "code" in error ? error.code : undefined;
}

/**
 * A lock file holding its owner's token. A lock whose owner died (a killed
 * earlier run) is taken over; a live owner is waited for, polling every
 * `pollMs`, until `done()` reports the work was finished by the other side.
 *
 * Resolves to a release function, or to `undefined` when `done()` became true
 * while waiting (nothing left to do). Throws after `timeoutMs`.
 */
export async function acquireFileLock(
  fs: Fs,
  path: string,
  done: () => Promise<boolean>,
  { pollMs = 1_000, timeoutMs = 30 * 60_000 } = {},
): Promise<(() => Promise<void>) | undefined> {
  const token = (await ownerToken(fs)) ?? `unknown/${process.pid}/0`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(token);
      await handle.close();
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (error) {
      if (errorCode(error) !== "EEXIST") throw error;
    }
    const holder = await readFile(path, "utf8").catch(() => "");
    if (holder !== "" && !(await isOwnerAlive(fs, holder))) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (await done()) return undefined;
    if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${path} held by ${holder}`);
    await sleep(pollMs);
  }
}
