import type { Fs } from "../../shared/host-io.js";
import { parseProcStat } from "../process-identity.js";

/**
 * An owner token names one live process on this machine for as long as it
 * lives: boot id, pid and the process start time (so neither a reboot nor a
 * recycled pid makes a dead owner look alive).
 */
export async function ownerToken(fs: Fs, pid: number = process.pid): Promise<string | undefined> {
  const bootId = (await fs.readTextIfExists("/proc/sys/kernel/random/boot_id"))?.trim();
  const stat = await fs.readTextIfExists(`/proc/${pid}/stat`);
  if (bootId === undefined || stat === undefined) return undefined;
  const startTime = parseProcStat(stat)?.startTime;
  return startTime === undefined ? undefined : `${bootId}/${pid}/${startTime}`;
}

/** True when the process the token names still runs. Malformed tokens count as dead. */
export async function isOwnerAlive(fs: Fs, token: string): Promise<boolean> {
  const pid = Number(token.split("/")[1]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return (await ownerToken(fs, pid)) === token;
}
