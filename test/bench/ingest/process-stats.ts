import { readdirSync, readFileSync } from "node:fs";
import { z } from "zod";

/** What a process reports about itself; Linux /proc figures are 0 where /proc is not there. */
export const processStatsSchema = z
  .object({
    rssBytes: z.number().int().min(0),
    /** VmHWM: the highest RSS since the process started. */
    peakRssBytes: z.number().int().min(0),
    heapUsedBytes: z.number().int().min(0),
    /** User + system CPU since the process started. */
    cpuMicros: z.number().int().min(0),
    openFds: z.number().int().min(0),
  })
  .strict();

export type ProcessStats = z.infer<typeof processStatsSchema>;

function readProc(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function countFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return 0;
  }
}

export function processStats(): ProcessStats {
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readProc("/proc/self/status"))?.[1];
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return {
    rssBytes: memory.rss,
    peakRssBytes: hwm === undefined ? memory.rss : Number(hwm) * 1024,
    heapUsedBytes: memory.heapUsed,
    cpuMicros: cpu.user + cpu.system,
    openFds: countFds(),
  };
}

/** The soft limit on open files of this process (children inherit it); undefined without /proc. */
export function openFilesLimit(): number | undefined {
  const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(readProc("/proc/self/limits"))?.[1];
  if (soft === undefined) return undefined;
  return soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
}

/** A kernel setting from /proc/sys (e.g. "net/core/somaxconn"), trimmed; undefined when unreadable. */
export function sysctl(name: string): string | undefined {
  const text = readProc(`/proc/sys/${name}`).trim().replace(/\s+/g, " ");
  return text === "" ? undefined : text;
}
