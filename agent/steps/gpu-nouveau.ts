import { z } from "zod";
import type { Exec } from "../../shared/host-io.js";
import { moduleLoaded, NVIDIA_SMI_QUERY, queryNvidiaSmi } from "../facts/nvidia-driver.js";
import { holdsContent } from "../ledger/hash.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { withReboot } from "../ledger/record.js";
import { undoRecorded } from "../ledger/undo.js";
import { mustRun, tryCommand } from "../runner/host-calls.js";
import { currentBootId, rebootAndWait } from "../runner/reboot.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";

export const NOUVEAU_BLACKLIST = "/etc/modprobe.d/groundcrew-blacklist-nouveau.conf";
/** The two lines nvidia-installer itself writes to disable nouveau (step catalog G3). */
export const NOUVEAU_BLACKLIST_CONTENT = [
  "# Written by groundcrew (gpu.nouveau): the NVIDIA driver needs nouveau out of its way.",
  "blacklist nouveau",
  "options nouveau modeset=0",
  "",
].join("\n");
const MODINFO = ["modinfo", "-F", "filename", "nouveau"] as const;
const REBOOT_REASON = "to unload nouveau";

/** Whether this kernel has a nouveau module that could load at boot (`modinfo` knows it). */
async function nouveauAvailable(exec: Exec): Promise<boolean> {
  return (await tryCommand(exec, MODINFO)).code === 0;
}

/**
 * G3: nouveau out of the NVIDIA driver's way. Done when the blacklist file is
 * in place and nouveau is not loaded; also when nothing needs blacklisting: a
 * working NVIDIA driver that groundcrew did not set up this way (adopted,
 * nothing recorded), or a kernel without nouveau. Apply writes
 * /etc/modprobe.d/groundcrew-blacklist-nouveau.conf and updates the
 * initramfs; when nouveau is loaded it then reboots the host (contract in
 * agent/runner/reboot.ts): after the boot the resumed run checks again and
 * finds the step done. Nouveau still loaded after that reboot fails with
 * NVIDIA_NOUVEAU_LOADED instead of rebooting again. Undo deletes the file and
 * updates the initramfs; nouveau loads again from the next boot.
 */
export const gpuNouveauStep = defineStep({
  id: "gpu.nouveau",
  params: z
    .object({
      /** How long apply waits for the host to go down after `systemctl reboot` before failing. */
      rebootTimeoutSec: z.number().int().min(1).max(3600).default(600),
    })
    .strict(),
  probes: [[...NVIDIA_SMI_QUERY], [...MODINFO]],
  title: () => "Blacklist nouveau for the NVIDIA driver (reboots when nouveau is loaded)",

  async check({ exec, fs, ledger }) {
    const [written, loaded] = await Promise.all([
      holdsContent(fs, NOUVEAU_BLACKLIST, NOUVEAU_BLACKLIST_CONTENT),
      moduleLoaded(fs, "nouveau"),
    ]);
    if (written && !loaded) {
      return { done: true, reason: `${NOUVEAU_BLACKLIST} blacklists nouveau and nouveau is not loaded` };
    }
    if ((await ledger.read()) === undefined) {
      const smi = await queryNvidiaSmi(exec);
      if (smi.ok) {
        return {
          done: true,
          reason: "a working NVIDIA driver is present: nouveau is not in its way, nothing to blacklist",
        };
      }
    }
    if (!written && !loaded && !(await nouveauAvailable(exec))) {
      return { done: true, reason: "this kernel has no nouveau module: nothing to blacklist" };
    }
    const reasons = [
      ...(written ? [] : [`${NOUVEAU_BLACKLIST} is missing or differs`]),
      ...(loaded ? ["nouveau is loaded (a reboot will unload it)"] : []),
    ];
    return { done: false, reason: reasons.join("; ") };
  },

  async apply({ exec, fs, ledger, log, params }) {
    const changes: string[] = [];
    const loaded = await moduleLoaded(fs, "nouveau");
    const bootId = loaded ? await currentBootId(fs) : undefined;
    const rebooted = (await ledger.read())?.reboots.find((reboot) => reboot.bootId !== bootId);
    if (loaded && rebooted !== undefined) {
      throw new StepError(
        "NVIDIA_NOUVEAU_LOADED",
        `nouveau is still loaded after the reboot groundcrew asked for to unload it (${NOUVEAU_BLACKLIST} is in place): it may be built into the kernel or forced by the kernel command line (/proc/cmdline); remove that and reboot, or set installNvidiaDriver: false`,
        { context: { path: NOUVEAU_BLACKLIST, bootId: rebooted.bootId } },
      );
    }
    const wrote = await writeOwnedFile({ fs, ledger }, NOUVEAU_BLACKLIST, NOUVEAU_BLACKLIST_CONTENT, 0o644);
    if (wrote) changes.push(`wrote ${NOUVEAU_BLACKLIST}`);
    // Also when loaded: a crash may have come between writing the file and updating the initramfs.
    if (wrote || loaded) {
      await mustRun(exec, ["update-initramfs", "-u"]);
      changes.push("updated the initramfs");
    }
    if (bootId === undefined) return { changes };
    await ledger.update((record) => withReboot(record, { bootId, reason: REBOOT_REASON }));
    log(`rebooting ${REBOOT_REASON} (${NOUVEAU_BLACKLIST} is in place); the run resumes after the boot`);
    return rebootAndWait(exec, params.rebootTimeoutSec * 1000, REBOOT_REASON);
  },

  async verify({ fs }) {
    if (!(await holdsContent(fs, NOUVEAU_BLACKLIST, NOUVEAU_BLACKLIST_CONTENT))) {
      throw new StepError("STEP_VERIFY_FAILED", `${NOUVEAU_BLACKLIST} does not blacklist nouveau`, {
        context: { path: NOUVEAU_BLACKLIST },
      });
    }
    if (await moduleLoaded(fs, "nouveau")) {
      throw new StepError(
        "NVIDIA_NOUVEAU_LOADED",
        `nouveau is loaded although ${NOUVEAU_BLACKLIST} is in place`,
        {
          context: { path: NOUVEAU_BLACKLIST },
        },
      );
    }
  },

  async undo({ exec, fs, ledger, log }) {
    const owned = (await ledger.read())?.files.some((file) => file.path === NOUVEAU_BLACKLIST) === true;
    const changes = await undoRecorded({ exec, fs, ledger });
    if (owned && (await fs.stat(NOUVEAU_BLACKLIST)) === undefined) {
      await mustRun(exec, ["update-initramfs", "-u"]);
      changes.push("updated the initramfs");
      log("nouveau may load again from the next boot");
    }
    return { changes };
  },
});
