import type { HostFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";

/**
 * Whether systemd runs this host: PID 1's name (/proc/1/comm is "systemd"),
 * and systemd's own sd_booted() test (/run/systemd/system is a directory).
 * Missing files mean false, never an error.
 */
export async function readSystemd(fs: Fs): Promise<HostFacts["systemd"]> {
  const [comm, runDir] = await Promise.all([
    fs.readTextIfExists("/proc/1/comm"),
    fs.stat("/run/systemd/system"),
  ]);
  return { pid1: comm?.trim() === "systemd", booted: runDir?.isDirectory === true };
}
