import { describe, expect, it } from "vitest";
import { swapOffStep } from "../../agent/steps/swap-off.js";
import { fakePrepHost, FSTAB, PROC_SWAPS_HEADER } from "../fakes/prep-host.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

const COMMENTED_FSTAB = FSTAB.replace(/^(UUID=\S+ none\s+swap.*)$/m, "# groundcrew swap-off: $1");

describe("host.swap-off", () => {
  it("masks the swap unit, turns swap off, comments /etc/fstab, and is done afterwards", async () => {
    const host = fakePrepHost();
    const step = stepHarness(swapOffStep, host);
    expect(await step.check()).toEqual({
      done: false,
      reason: "swap is active (/dev/sda2); /etc/fstab has 1 active swap line(s)",
    });
    expect(await step.apply()).toEqual({
      changes: [
        "masked dev-sda2.swap",
        "turned swap off (/dev/sda2)",
        "commented out the swap lines of /etc/fstab",
      ],
    });
    await step.verify();
    expect(host.exec.commandLines()).toEqual([
      "systemctl list-units --type swap --state active --plain --no-legend --no-pager",
      "systemctl is-enabled dev-sda2.swap",
      "systemctl mask dev-sda2.swap",
      "swapoff -a",
      "systemctl daemon-reload",
    ]);
    expect(await host.fs.readText("/proc/swaps")).toBe(PROC_SWAPS_HEADER);
    expect(await host.fs.readText("/etc/fstab")).toBe(COMMENTED_FSTAB);
    const record = await step.ledger.read();
    expect(record?.maskedUnits).toEqual(["dev-sda2.swap"]);
    expect(record?.files[0]?.previous?.backup).toMatch(/backups\/host\.swap-off\/%2Fetc%2Ffstab$/);
    expect(await step.check()).toEqual({
      done: true,
      reason: "swap is off and /etc/fstab has no active swap line",
    });
  });

  it("undo restores /etc/fstab from the backup, unmasks, and turns swap back on", async () => {
    const host = fakePrepHost();
    const before = hostTree(host.fs);
    const step = stepHarness(swapOffStep, host);
    await step.apply();
    host.exec.calls.length = 0;
    expect(await step.undo()).toEqual({
      changes: ["restored /etc/fstab", "unmasked dev-sda2.swap", "ran swapon -a"],
    });
    expect(host.exec.commandLines()).toEqual([
      "systemctl unmask dev-sda2.swap",
      "systemctl daemon-reload",
      "swapon -a",
    ]);
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("on a host without systemd touches no units", async () => {
    const host = fakePrepHost({ systemd: false });
    const step = stepHarness(swapOffStep, host);
    await step.apply();
    await step.verify();
    expect(host.exec.commandLines()).toEqual(["swapoff -a"]);
    expect(await host.fs.readText("/proc/swaps")).toBe(PROC_SWAPS_HEADER);
    expect((await step.ledger.read())?.maskedUnits).toEqual([]);
  });

  it("is done on a host without swap", async () => {
    const step = stepHarness(swapOffStep, fakePrepHost({ swap: false }));
    expect((await step.check()).done).toBe(true);
  });

  it("only comments /etc/fstab when swap is listed there but not active", async () => {
    const host = fakePrepHost({ systemd: false, extra: { "/proc/swaps": PROC_SWAPS_HEADER } });
    const step = stepHarness(swapOffStep, host);
    expect(await step.apply()).toEqual({ changes: ["commented out the swap lines of /etc/fstab"] });
    expect(host.exec.commandLines()).toEqual([]);
  });

  it("undo still succeeds when swapon -a cannot bring a swap area back, and says so", async () => {
    const host = fakePrepHost({ systemd: false });
    host.exec.answer("swapon -a", {
      code: 255,
      stderr: "swapon: cannot open /swapfile: No such file or directory\n",
    });
    const step = stepHarness(swapOffStep, host);
    await step.apply();
    const failure = "`swapon -a` exited 255: swapon: cannot open /swapfile: No such file or directory";
    expect(await step.undo()).toEqual({
      changes: ["restored /etc/fstab", `swap not turned back on: ${failure}`],
    });
    expect(step.logs).toEqual([failure]);
    expect(await host.fs.readText("/etc/fstab")).toBe(FSTAB);
  });

  it("does not record a unit that was masked before", async () => {
    const host = fakePrepHost();
    host.exec.answer("systemctl is-enabled dev-sda2.swap", { code: 1, stdout: "masked\n" });
    const step = stepHarness(swapOffStep, host);
    await step.apply();
    expect(host.exec.commandLines()).not.toContain("systemctl mask dev-sda2.swap");
    expect((await step.ledger.read())?.maskedUnits).toEqual([]);
  });

  it("verify fails with SWAP_STILL_ACTIVE when swap stays on", async () => {
    const host = fakePrepHost();
    host.exec.answer("swapoff -a", {});
    const step = stepHarness(swapOffStep, host);
    await step.apply();
    await expect(step.verify()).rejects.toMatchObject({
      code: "SWAP_STILL_ACTIVE",
      message: "swap is still active after swapoff -a: /dev/sda2 (/proc/swaps)",
    });
  });

  it("a failing swapoff is HOST_COMMAND_FAILED naming the command and its error", async () => {
    const host = fakePrepHost({ systemd: false });
    host.exec.answer("swapoff -a", {
      code: 255,
      stderr: "swapoff: /dev/sda2: swapoff failed: Cannot allocate memory\n",
    });
    const step = stepHarness(swapOffStep, host);
    await expect(step.apply()).rejects.toMatchObject({
      code: "HOST_COMMAND_FAILED",
      message: "`swapoff -a` exited 255: swapoff: /dev/sda2: swapoff failed: Cannot allocate memory",
    });
  });
});
