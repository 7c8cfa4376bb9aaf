import { z } from "zod";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { readSystemd } from "../facts/systemd.js";
import type { StepLedger } from "../ledger/ledger.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { withMaskedUnit } from "../ledger/record.js";
import { undoRecorded } from "../ledger/undo.js";
import { describeResult, fileOp, mustRun, tryCommand } from "../runner/host-calls.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import { activeSwapLines, activeSwaps, commentOutSwap, swapUnits } from "./swap-state.js";

const FSTAB = "/etc/fstab";
const PROC_SWAPS = "/proc/swaps";

interface SwapState {
  readonly active: string[];
  readonly fstabLines: string[];
}

/** Reads only. A host without /proc/swaps (kernel without swap) or /etc/fstab has none of either. */
async function readSwapState(fs: ReadonlyFs): Promise<SwapState> {
  const [procSwaps, fstab] = await Promise.all([
    fileOp("read", PROC_SWAPS, () => fs.readTextIfExists(PROC_SWAPS)),
    fileOp("read", FSTAB, () => fs.readTextIfExists(FSTAB)),
  ]);
  return { active: activeSwaps(procSwaps ?? ""), fstabLines: activeSwapLines(fstab ?? "") };
}

function describe(state: SwapState): string {
  const parts: string[] = [];
  if (state.active.length > 0) parts.push(`swap is active (${state.active.join(", ")})`);
  if (state.fstabLines.length > 0) parts.push(`${FSTAB} has ${state.fstabLines.length} active swap line(s)`);
  return parts.length === 0 ? `swap is off and ${FSTAB} has no active swap line` : parts.join("; ");
}

/** Masks the active swap units that are not masked yet, recording each in the ledger before masking it. */
async function maskSwapUnits(exec: Exec, ledger: StepLedger): Promise<string[]> {
  const listing = await mustRun(exec, [
    "systemctl",
    "list-units",
    "--type",
    "swap",
    "--state",
    "active",
    "--plain",
    "--no-legend",
    "--no-pager",
  ]);
  const masked: string[] = [];
  for (const unit of swapUnits(listing.stdout)) {
    const state = await tryCommand(exec, ["systemctl", "is-enabled", unit]);
    if (state.stdout.trim().startsWith("masked")) continue;
    await ledger.update((record) => withMaskedUnit(record, unit));
    await mustRun(exec, ["systemctl", "mask", unit]);
    masked.push(`masked ${unit}`);
  }
  return masked;
}

/**
 * H2: swap off now and at boot. Done when /proc/swaps lists nothing and
 * /etc/fstab has no active swap line. Apply masks active *.swap units
 * (systemd hosts), runs `swapoff -a` when swap is on, comments the swap
 * lines out of /etc/fstab (previous version in the ledger). Undo restores
 * /etc/fstab, unmasks the units it masked and runs `swapon -a`; a failing
 * `swapon -a` is reported in the changes, not a failure (fstab is what lasts).
 */
export const swapOffStep = defineStep({
  id: "host.swap-off",
  params: z.object({}).strict(),
  title: () => "Turn swap off (now and at boot)",

  async check({ fs }) {
    const state = await readSwapState(fs);
    return { done: state.active.length === 0 && state.fstabLines.length === 0, reason: describe(state) };
  },

  async apply({ exec, fs, ledger }) {
    const systemd = (await readSystemd(fs)).booted;
    const changes = systemd ? await maskSwapUnits(exec, ledger) : [];
    const { active } = await readSwapState(fs);
    if (active.length > 0) {
      await mustRun(exec, ["swapoff", "-a"]);
      changes.push(`turned swap off (${active.join(", ")})`);
    }
    const fstab = await fileOp("read", FSTAB, () => fs.readTextIfExists(FSTAB));
    if (fstab !== undefined && activeSwapLines(fstab).length > 0) {
      const mode = ((await fileOp("stat", FSTAB, () => fs.stat(FSTAB)))?.mode ?? 0o644) & 0o7777;
      await writeOwnedFile({ fs, ledger }, FSTAB, commentOutSwap(fstab), mode);
      changes.push(`commented out the swap lines of ${FSTAB}`);
      if (systemd) await mustRun(exec, ["systemctl", "daemon-reload"]);
    }
    return { changes };
  },

  async verify({ fs }) {
    const state = await readSwapState(fs);
    if (state.active.length > 0) {
      throw new StepError(
        "SWAP_STILL_ACTIVE",
        `swap is still active after swapoff -a: ${state.active.join(", ")} (${PROC_SWAPS})`,
        {
          context: { path: PROC_SWAPS },
        },
      );
    }
    if (state.fstabLines.length > 0) {
      throw new StepError(
        "STEP_VERIFY_FAILED",
        `${FSTAB} still has active swap lines: ${state.fstabLines.join(" | ")}`,
        {
          context: { path: FSTAB },
        },
      );
    }
  },

  async undo({ exec, fs, ledger, log }) {
    const changes = await undoRecorded({ exec, fs, ledger });
    if ((await readSystemd(fs)).booted) await mustRun(exec, ["systemctl", "daemon-reload"]);
    // /etc/fstab is back; a swap area that cannot come up now (a device gone since) must not block the reset.
    const swapon = await tryCommand(exec, ["swapon", "-a"]);
    if (swapon.code === 0) {
      changes.push("ran swapon -a");
    } else {
      const failure = describeResult(["swapon", "-a"], swapon);
      log(failure);
      changes.push(`swap not turned back on: ${failure}`);
    }
    return { changes };
  },
});
