import { GroundcrewError } from "../../shared/errors.js";
import type { HostFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";
import { readRequiredText } from "./read.js";

/**
 * MemTotal and MemAvailable from /proc/meminfo ("Key:   123 kB" lines), in
 * bytes. Kernels before 3.14 lack MemAvailable: MemFree stands in, then 0.
 * Throws GroundcrewError FACTS_UNREADABLE when MemTotal is missing.
 */
export function parseMeminfo(text: string): HostFacts["memory"] {
  const bytes = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^(\w+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const multiplier = line.trimEnd().endsWith("kB") ? 1024 : 1;
    bytes.set(match[1], Number(match[2]) * multiplier);
  }
  const totalBytes = bytes.get("MemTotal");
  if (totalBytes === undefined)
    throw new GroundcrewError("FACTS_UNREADABLE", "/proc/meminfo has no MemTotal");
  return { totalBytes, availableBytes: bytes.get("MemAvailable") ?? bytes.get("MemFree") ?? 0 };
}

export async function readMemory(fs: Fs): Promise<HostFacts["memory"]> {
  return parseMeminfo(await readRequiredText(fs, "/proc/meminfo"));
}
