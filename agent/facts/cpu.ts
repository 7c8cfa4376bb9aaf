import { GroundcrewError } from "../../shared/errors.js";
import type { HostFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";

/**
 * Counts the CPUs in a kernel CPU list such as "0-3,5,7-8" (the format of
 * /sys/devices/system/cpu/online). Malformed or reversed parts count 0.
 */
export function countCpuList(list: string): number {
  let count = 0;
  for (const part of list.trim().split(",")) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (match?.[1] === undefined) continue;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last >= first) count += last - first + 1;
  }
  return count;
}

/**
 * Processor count and model from /proc/cpuinfo: count is the number of
 * "processor" lines; model is the first "model name" (x86), else the first
 * "Hardware" or "CPU part" (Arm), else "".
 */
export function parseCpuinfo(text: string): { count: number; model: string } {
  let count = 0;
  const firstValues = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon === -1) continue;
    const key = line.slice(0, colon).trim();
    if (key === "processor") count += 1;
    if (!firstValues.has(key)) firstValues.set(key, line.slice(colon + 1).trim());
  }
  const model =
    firstValues.get("model name") ?? firstValues.get("Hardware") ?? firstValues.get("CPU part") ?? "";
  return { count, model };
}

/**
 * CPU facts. When /proc/cpuinfo has no "processor" lines (some Arm and s390x
 * kernels), the count comes from /sys/devices/system/cpu/online. Throws
 * FACTS_UNREADABLE when neither source gives at least one CPU.
 */
export async function readCpu(fs: Fs): Promise<HostFacts["cpu"]> {
  const parsed = parseCpuinfo((await fs.readTextIfExists("/proc/cpuinfo")) ?? "");
  if (parsed.count > 0) return parsed;
  const online = countCpuList((await fs.readTextIfExists("/sys/devices/system/cpu/online")) ?? "");
  if (online === 0) {
    throw new GroundcrewError(
      "FACTS_UNREADABLE",
      "cannot count CPUs: neither /proc/cpuinfo nor /sys/devices/system/cpu/online lists any",
    );
  }
  return { count: online, model: parsed.model };
}
