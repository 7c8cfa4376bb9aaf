import { GroundcrewError } from "../../shared/errors.js";
import type { HostFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";

/** MemTotal and MemAvailable from /proc/meminfo, in bytes. Throws FACTS_UNREADABLE without MemTotal. */
export function parseMeminfo(text: string): HostFacts["memory"] {
  const kib = (key: string): number | undefined => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(text);
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  };
  const totalBytes = kib("MemTotal");
  if (totalBytes === undefined) throw new GroundcrewError("FACTS_UNREADABLE", "/proc/meminfo has no MemTotal");
  return { totalBytes, availableBytes: kib("MemAvailable") ?? kib("MemFree") ?? 0 };
}

export async function readMemory(fs: Fs): Promise<HostFacts["memory"]> {
  return parseMeminfo(await fs.readText("/proc/meminfo"));
}
