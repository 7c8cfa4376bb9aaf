import type { HostFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";

/** Counts the CPUs in a kernel CPU list such as "0-3,5,7-8" (the format of /sys/devices/system/cpu/online). */
export function countCpuList(list: string): number {
  let count = 0;
  for (const part of list.trim().split(",")) {
    if (part === "") continue;
    const [first, last] = part.split("-").map(Number);
    if (first === undefined || !Number.isInteger(first)) continue;
    count += last === undefined ? 1 : Number.isInteger(last) && last >= first ? last - first + 1 : 0;
  }
  return count;
}

/** Processor count and model from /proc/cpuinfo (x86 "model name"; Arm "Hardware" or "CPU part"). */
export function parseCpuinfo(text: string): { count: number; model: string } {
  let count = 0;
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon === -1) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === "processor") count += 1;
    if (!values.has(key)) values.set(key, value);
  }
  const model = values.get("model name") ?? values.get("Hardware") ?? values.get("CPU part") ?? "";
  return { count, model };
}

export async function readCpu(fs: Fs): Promise<HostFacts["cpu"]> {
  const parsed = parseCpuinfo((await fs.readTextIfExists("/proc/cpuinfo")) ?? "");
  if (parsed.count > 0) return parsed;
  const online = await fs.readTextIfExists("/sys/devices/system/cpu/online");
  return { count: Math.max(1, countCpuList(online ?? "")), model: parsed.model };
}
