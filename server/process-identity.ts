import { readFileSync } from "node:fs";

/**
 * A process is identified by its pid *and* its start time, so a pid reused by
 * an unrelated process after the original one died is not mistaken for it.
 * The start time is field 22 of /proc/<pid>/stat (clock ticks since boot),
 * kept as the decimal string it is there.
 */
export interface ProcessIdentity {
  readonly pid: number;
  /** null where /proc cannot tell (not Linux, or /proc not mounted). */
  readonly startTime: string | null;
}

export type Liveness = "alive" | "gone";

function errorCode(error: unknown): unknown {
  return error instanceof Error && "code" in error ? error.code : undefined;
}

/**
 * Parses the contents of /proc/<pid>/stat into (state, starttime). The second
 * field (comm) is in parentheses and may itself hold spaces and parentheses,
 * so fields are counted from the last ")". Returns null if malformed.
 */
export function parseProcStat(stat: string): { state: string; startTime: string } | null {
  const close = stat.lastIndexOf(")");
  if (close < 0) return null;
  // After ")" come fields 3 (state), 4, ... ; field 22 is at offset 22 - 3.
  const fields = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const startTime = fields[22 - 3];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return null;
  return { state, startTime };
}

/**
 * Reads /proc/<pid>/stat. "missing" when there is no such process (or it is a
 * zombie: it has exited and only waits to be reaped), "unknown" when /proc
 * itself cannot be read.
 */
function readStat(pid: number): { state: string; startTime: string } | "missing" | "unknown" {
  let text: string;
  try {
    text = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
  } catch (error) {
    const code = errorCode(error);
    if ((code === "ENOENT" || code === "ESRCH") && procMounted()) return "missing";
    return "unknown";
  }
  const parsed = parseProcStat(text);
  if (parsed === null) return "unknown";
  return parsed.state === "Z" || parsed.state === "X" ? "missing" : parsed;
}

function procMounted(): boolean {
  try {
    readFileSync("/proc/self/stat", "utf8");
    return true;
  } catch {
    return false;
  }
}

/** This process's identity. */
export function ownIdentity(): ProcessIdentity {
  const stat = readStat(process.pid);
  return { pid: process.pid, startTime: typeof stat === "object" ? stat.startTime : null };
}

/**
 * Whether the process that recorded `identity` still runs. A live pid with a
 * different start time is a different process ("gone"). Without /proc, or
 * without a recorded start time, falls back to whether the pid exists at all
 * (conservative: a reused pid then reads as alive).
 */
export function liveness(identity: ProcessIdentity): Liveness {
  const stat = readStat(identity.pid);
  if (stat === "missing") return "gone";
  if (stat !== "unknown" && identity.startTime !== null) {
    return stat.startTime === identity.startTime ? "alive" : "gone";
  }
  try {
    process.kill(identity.pid, 0);
    return "alive";
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return errorCode(error) === "EPERM" ? "alive" : "gone";
  }
}
