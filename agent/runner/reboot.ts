import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { fileOp, mustRun } from "./host-calls.js";
import { StepError } from "./step-error.js";

/** A new random id every boot: tells "after the reboot" from "before it". */
export const BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id";

/** The current boot's id (a UUID, lowercase). Throws HOST_IO_FAILED naming the file. */
export async function currentBootId(fs: ReadonlyFs): Promise<string> {
  return (await fileOp("read", BOOT_ID_FILE, () => fs.readText(BOOT_ID_FILE))).trim().toLowerCase();
}

/**
 * How a step reboots its host. The contract:
 *
 * 1. Before calling this, the step has recorded in its ledger everything it
 *    changed, and the reboot itself (`withReboot`, with the boot id it ends),
 *    and has logged why.
 * 2. This runs `systemctl reboot` and then never resolves: on the way down
 *    systemd stops the agent's unit, killing the agent in the middle of the
 *    step, so the runner reports neither success nor failure for it and the
 *    run is not finished.
 * 3. At boot the agent's unit starts again (WantedBy=multi-user.target), the
 *    run resumes after the steps it completed (agent/outbox/run-state.ts) and
 *    the runner runs the interrupted step again from `check`, which then says
 *    done, or `apply` carries on from the host as it finds it. A step compares
 *    the recorded boot id with `currentBootId` to tell whether the reboot
 *    happened, and must fail rather than reboot again in a loop.
 *
 * Throws HOST_COMMAND_FAILED when systemctl refuses, HOST_REBOOT_TIMEOUT when
 * the host is still up `timeoutMs` later (the run then fails; nothing loops).
 */
export async function rebootAndWait(exec: Exec, timeoutMs: number, reason: string): Promise<never> {
  await mustRun(exec, ["systemctl", "reboot"]);
  await new Promise((resolve) => setTimeout(resolve, timeoutMs));
  throw new StepError(
    "HOST_REBOOT_TIMEOUT",
    `asked the host to reboot (${reason}) but it is still up ${Math.round(timeoutMs / 1000)} s later; reboot it by hand and run again`,
    { context: { command: "systemctl reboot", timeoutMs } },
  );
}
