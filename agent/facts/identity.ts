import type { Fs } from "../../shared/host-io.js";
import { readRequiredText } from "./read.js";

export interface IdentityFacts {
  readonly hostname: string;
  readonly machineId: string;
}

/**
 * The kernel's hostname (required: FACTS_UNREADABLE when unreadable) and
 * /etc/machine-id ("" when the host has none, e.g. a fresh image).
 */
export async function readIdentity(fs: Fs): Promise<IdentityFacts> {
  const [hostname, machineId] = await Promise.all([
    readRequiredText(fs, "/proc/sys/kernel/hostname"),
    fs.readTextIfExists("/etc/machine-id"),
  ]);
  return { hostname: hostname.trim(), machineId: (machineId ?? "").trim() };
}
