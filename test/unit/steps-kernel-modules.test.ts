import { describe, expect, it } from "vitest";
import { kernelModulesStep, MODULES_FILE, MODULES_FILE_CONTENT } from "../../agent/steps/kernel-modules.js";
import { fakePrepHost } from "../fakes/prep-host.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

describe("host.kernel-modules", () => {
  it("on a kernel without loadable modules but with both features built in: succeeds without modprobe", async () => {
    const host = fakePrepHost({ loadableModules: false, builtIn: { overlay: true, brNetfilter: true } });
    const before = hostTree(host.fs);
    const step = stepHarness(kernelModulesStep, host);
    expect(await step.check()).toEqual({ done: false, reason: `${MODULES_FILE} is missing or differs` });
    expect(await step.apply()).toEqual({ changes: [`wrote ${MODULES_FILE}`] });
    await step.verify();
    expect(host.exec.commandLines()).toEqual([]);
    expect(step.logs).toEqual([
      "overlay: already available (built in or loaded)",
      "br_netfilter: already available (built in or loaded)",
    ]);
    expect(await host.fs.readText(MODULES_FILE)).toBe(MODULES_FILE_CONTENT);
    expect(MODULES_FILE_CONTENT.split("\n").filter((line) => !line.startsWith("#"))).toEqual([
      "overlay",
      "br_netfilter",
      "",
    ]);
    expect((await step.check()).done).toBe(true);

    expect(await step.undo()).toEqual({
      changes: [`removed ${MODULES_FILE}`, "removed directory /etc/modules-load.d"],
    });
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("loads missing modules with modprobe on a kernel that has them", async () => {
    const host = fakePrepHost();
    const step = stepHarness(kernelModulesStep, host);
    expect((await step.check()).reason).toBe(
      `${MODULES_FILE} is missing or differs; overlay is not available (no overlay in /proc/filesystems); ` +
        "br_netfilter is not available (no /proc/sys/net/bridge)",
    );
    expect(await step.apply()).toEqual({
      changes: [`wrote ${MODULES_FILE}`, "loaded overlay", "loaded br_netfilter"],
    });
    await step.verify();
    expect(host.exec.commandLines()).toEqual(["modprobe overlay", "modprobe br_netfilter"]);
    expect((await step.check()).done).toBe(true);
  });

  it("counts a module directory in /sys/module as present", async () => {
    const host = fakePrepHost({
      loadableModules: false,
      builtIn: { overlay: true },
      extra: { "/sys/module/br_netfilter/parameters/.keep": "" },
    });
    const step = stepHarness(kernelModulesStep, host);
    await step.apply();
    await step.verify();
    expect(host.exec.commandLines()).toEqual([]);
  });

  it("fails with KERNEL_MODULE_UNAVAILABLE when br_netfilter is absent and modprobe fails", async () => {
    const host = fakePrepHost({ loadableModules: false, builtIn: { overlay: true } });
    const step = stepHarness(kernelModulesStep, host);
    await expect(step.apply()).rejects.toMatchObject({
      code: "KERNEL_MODULE_UNAVAILABLE",
      message:
        "br_netfilter is not available: no /proc/sys/net/bridge and `modprobe br_netfilter` exited 1: " +
        "modprobe: FATAL: Module br_netfilter not found in directory /lib/modules/6.1.0-18-amd64",
    });
    // What it wrote is recorded, so undo still removes it.
    expect((await step.ledger.read())?.files.map((file) => file.path)).toEqual([MODULES_FILE]);
  });

  it("names a modprobe that cannot even start, and one that succeeds without the feature appearing", async () => {
    const missing = fakePrepHost({ builtIn: { overlay: true } });
    missing.exec.answer("modprobe br_netfilter", new Error("spawn modprobe ENOENT"));
    await expect(stepHarness(kernelModulesStep, missing).apply()).rejects.toMatchObject({
      code: "KERNEL_MODULE_UNAVAILABLE",
      message: expect.stringContaining(
        "`modprobe br_netfilter` exited 127: spawn modprobe ENOENT",
      ) as unknown,
    });
    const silent = fakePrepHost({ builtIn: { overlay: true } });
    silent.exec.answer("modprobe br_netfilter", {});
    await expect(stepHarness(kernelModulesStep, silent).apply()).rejects.toMatchObject({
      code: "KERNEL_MODULE_UNAVAILABLE",
      message: "br_netfilter is not available: no /proc/sys/net/bridge and `modprobe br_netfilter` succeeded",
    });
  });

  it("verify fails when the file does not hold the module list", async () => {
    const host = fakePrepHost({ builtIn: { overlay: true, brNetfilter: true } });
    const step = stepHarness(kernelModulesStep, host);
    await step.apply();
    await host.fs.writeFileAtomic(MODULES_FILE, "overlay\n", 0o644);
    await expect(step.verify()).rejects.toMatchObject({ code: "STEP_VERIFY_FAILED" });
  });

  it("undo leaves a modules-load.d folder that was there before, with the operator's files", async () => {
    const host = fakePrepHost({
      builtIn: { overlay: true, brNetfilter: true },
      extra: { "/etc/modules-load.d/modules.conf": "# operator\n" },
    });
    const before = hostTree(host.fs);
    const step = stepHarness(kernelModulesStep, host);
    await step.apply();
    expect(await step.undo()).toEqual({ changes: [`removed ${MODULES_FILE}`] });
    expect(hostTree(host.fs)).toEqual(before);
  });
});
