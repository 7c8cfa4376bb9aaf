import type { Fs } from "../../shared/host-io.js";

/** The kernel's hostname and /etc/machine-id ("" when the host has none). */
export async function readIdentity(fs: Fs): Promise<{ hostname: string; machineId: string }> {
  const [hostname, machineId] = await Promise.all([
    fs.readText("/proc/sys/kernel/hostname"),
    fs.readTextIfExists("/etc/machine-id"),
  ]);
  return { hostname: hostname.trim(), machineId: (machineId ?? "").trim() };
}
