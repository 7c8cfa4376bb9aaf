import path from "node:path";
import type { LabFleet } from "./lab-fleet.js";

const SOURCES = path.resolve("test", "doubles", "gpu");

/** The PCI address of the fake GPU test/doubles/gpu/fake-gpu.sh puts in sysfs. */
export const FAKE_GPU = "0000:65:00.0";
/** The boot unit that makes the fake GPU (test/doubles/gpu/). */
export const FAKE_GPU_UNIT = "groundcrew-test-fake-gpu.service";
/** Where the unit's ExecStart expects the script. */
const SCRIPT_ON_HOST = "/usr/local/sbin/groundcrew-test-fake-gpu";

/**
 * Gives lab machine `machine` a GPU host's sysfs for good: installs the fake
 * GPU script and its oneshot unit (ordered before sysinit.target and the
 * groundcrew agent), enables it and starts it now. Unlike a one-off mount,
 * the GPU is back after the machine's container restarts, before the agent
 * starts, as on a real GPU host. Call before a host snapshot: the two files
 * and the unit stay (reset must leave them alone).
 */
export async function installFakeGpu(fleet: LabFleet, machine: string): Promise<void> {
  await fleet.uploadAsRoot(machine, path.join(SOURCES, "fake-gpu.sh"), SCRIPT_ON_HOST);
  await fleet.uploadAsRoot(
    machine,
    path.join(SOURCES, FAKE_GPU_UNIT),
    path.posix.join("/etc/systemd/system", FAKE_GPU_UNIT),
  );
  await fleet.asRoot(machine, ["systemctl", "enable", "--now", "--quiet", FAKE_GPU_UNIT]);
}
