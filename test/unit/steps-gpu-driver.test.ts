import { describe, expect, it } from "vitest";
import { gpuDriverStep } from "../../agent/steps/gpu-driver.js";
import { debsForKernel, headerKernels } from "../../agent/steps/gpu-headers.js";
import { symlink } from "../fakes/fake-fs.js";
import {
  CAS,
  debRef,
  fakeGpuHost,
  HEADER_DEBS,
  KERNEL,
  RUNFILE_ARGV,
  RUNFILE_REF,
} from "../fakes/gpu-host.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

const SMI = "nvidia-smi --query-gpu=name,driver_version --format=csv,noheader";
const ALL_HEADERS = [HEADER_DEBS.own, HEADER_DEBS.common, HEADER_DEBS.dkms, HEADER_DEBS.other];
const params = (debs = ALL_HEADERS, extra: Record<string, unknown> = {}) => ({
  runfile: RUNFILE_REF,
  debs: debs.map(debRef),
  ...extra,
});

describe("gpu.driver", () => {
  it("adopts a working driver a runfile installed: done, and undo never touches it", async () => {
    const host = fakeGpuHost({ nouveau: "available", driver: { by: "runfile", loaded: true } });
    const before = hostTree(host.fs);
    const step = stepHarness(gpuDriverStep, host, params());
    expect(await step.check()).toEqual({
      done: true,
      reason:
        "a working NVIDIA driver was already installed by a runfile (/usr/bin/nvidia-uninstall), not by groundcrew: adopted as it is, left alone by reset (NVIDIA H200 (550.54.15))",
    });
    expect(await step.ledger.read()).toBeUndefined();
    expect(await step.undo()).toEqual({ changes: [] });
    expect(hostTree(host.fs)).toEqual(before);
    expect(host.exec.commandLines().filter((line) => /uninstall|dpkg --|^sh /.test(line))).toEqual([]);
  });

  it("names the package that installed an adopted driver", async () => {
    const host = fakeGpuHost({ driver: { by: "package", loaded: true }, nouveau: "absent" });
    expect((await stepHarness(gpuDriverStep, host, params()).check()).reason).toContain(
      "already installed by package nvidia-utils-535-server, not by groundcrew",
    );
  });

  it("installs the headers that fit the running kernel in one dpkg call, then runs the runfile; undo restores the host exactly", async () => {
    const host = fakeGpuHost({ nouveau: "available" });
    const before = hostTree(host.fs);
    const step = stepHarness(gpuDriverStep, host, params());
    expect(await step.check()).toEqual({
      done: false,
      reason: `no working NVIDIA driver (\`${SMI}\` exited 127: spawn nvidia-smi ENOENT)`,
    });
    const seen = host.exec.calls.length;
    expect(await step.apply()).toEqual({
      changes: [
        `installed linux-headers-${KERNEL} 1.0, linux-headers-6.1.0-18-common 1.0, dkms 1.0`,
        `installed the NVIDIA driver from ${RUNFILE_REF.path} for kernel ${KERNEL}`,
      ],
    });
    const lines = host.exec.commandLines().slice(seen);
    const dpkg = `dpkg --install --force-confold ${[HEADER_DEBS.own, HEADER_DEBS.common, HEADER_DEBS.dkms].map((d) => `${CAS}/${d.sha256}`).join(" ")}`;
    // Headers before the build, the build before the check that it works; another kernel's headers never.
    expect(lines.filter((line) => /^dpkg --|^sh |^nvidia-smi/.test(line))).toEqual([
      SMI,
      dpkg,
      RUNFILE_ARGV,
      SMI,
    ]);
    await step.verify();
    expect(step.logs.at(-1)).toBe("nvidia-smi: NVIDIA H200 (550.54.15)");
    const record = await step.ledger.read();
    expect(record?.packages).toEqual([`linux-headers-${KERNEL}`, "linux-headers-6.1.0-18-common", "dkms"]);
    expect(record?.uninstallers).toEqual([
      { what: `the NVIDIA driver (${RUNFILE_REF.path})`, argv: ["/usr/bin/nvidia-uninstall", "--silent"] },
    ]);
    expect(await step.check()).toEqual({
      done: true,
      reason: "the NVIDIA driver groundcrew installed works: NVIDIA H200 (550.54.15)",
    });
    expect(await step.apply()).toEqual({ changes: [] });

    expect(await step.undo()).toEqual({
      changes: [
        `uninstalled the NVIDIA driver (${RUNFILE_REF.path})`,
        `purged linux-headers-${KERNEL}, linux-headers-6.1.0-18-common, dkms`,
      ],
    });
    expect(hostTree(host.fs)).toEqual(before);
    expect([...host.state.installed]).toEqual([]);
    expect(host.state.nvidiaLoaded).toBe(false);
  });

  it("uses the headers already there, installs no other kernel's, and passes the kernel module type", async () => {
    const host = fakeGpuHost({ nouveau: "absent", headers: true });
    const step = stepHarness(gpuDriverStep, host, params([HEADER_DEBS.other], { kernelModuleType: "open" }));
    expect(await step.apply()).toEqual({
      changes: [`installed the NVIDIA driver from ${RUNFILE_REF.path} for kernel ${KERNEL}`],
    });
    expect(host.exec.commandLines()).toContain(`${RUNFILE_ARGV} --kernel-module-type=open`);
    expect(host.exec.commandLines().filter((line) => line.startsWith("dpkg --install"))).toEqual([]);
    expect((await step.ledger.read())?.packages).toEqual([]);
  });

  it("fails before changing anything when neither the host nor the bundle has the running kernel's headers", async () => {
    const host = fakeGpuHost({
      nouveau: "absent",
      // Left by removed headers: a dangling build link does not count.
      extra: { [`/lib/modules/${KERNEL}/build`]: symlink(`/usr/src/linux-headers-${KERNEL}`) },
    });
    const before = hostTree(host.fs);
    const step = stepHarness(gpuDriverStep, host, params([HEADER_DEBS.other, HEADER_DEBS.dkms]));
    const problem = `the running kernel ${KERNEL} has no headers (/lib/modules/${KERNEL}/build, /usr/src/linux-headers-${KERNEL}) and the bundle's nvidia packages have headers for 6.1.0-20-amd64 only: add linux-headers-${KERNEL} to the bundle, or boot a kernel it has headers for`;
    expect((await step.check()).reason).toContain(problem);
    await expect(step.apply()).rejects.toMatchObject({
      code: "NVIDIA_HEADERS_MISSING",
      message: problem,
      context: { kernel: KERNEL },
    });
    expect(hostTree(host.fs)).toEqual(before);
    expect(host.exec.commandLines().filter((line) => /^dpkg --|^sh /.test(line))).toEqual([]);

    const none = fakeGpuHost({ nouveau: "absent" });
    await expect(stepHarness(gpuDriverStep, none, params([])).apply()).rejects.toThrow(
      "the bundle's nvidia packages have no kernel headers",
    );
  });

  it("loads and adopts a driver someone installed that was not loaded", async () => {
    const host = fakeGpuHost({ nouveau: "absent", driver: { by: "runfile", loaded: false } });
    const step = stepHarness(gpuDriverStep, host, params());
    expect(await step.apply()).toEqual({
      changes: [
        "loaded the nvidia module of the driver a runfile (/usr/bin/nvidia-uninstall) installed (NVIDIA H200 (550.54.15)): adopted, left alone by reset",
      ],
    });
    expect(await step.ledger.read()).toBeUndefined();
    expect(host.exec.commandLines().filter((line) => /^dpkg --|^sh /.test(line))).toEqual([]);
  });

  it("refuses to install over a broken driver someone else installed", async () => {
    const host = fakeGpuHost({ nouveau: "absent", driver: { by: "package", loaded: false } });
    host.exec.answer("modprobe nvidia", {
      code: 1,
      stderr: "modprobe: ERROR: could not insert 'nvidia': Exec format error\n",
    });
    const error = stepHarness(gpuDriverStep, host, params()).apply();
    await expect(error).rejects.toMatchObject({ code: "NVIDIA_DRIVER_FOREIGN" });
    await expect(error).rejects.toThrow(
      /installed by package nvidia-utils-535-server is on this host but does not work .*Exec format error/,
    );
  });

  it("refuses while nouveau is loaded (gpu.nouveau runs first)", async () => {
    const host = fakeGpuHost({ nouveau: "loaded", headers: true });
    await expect(stepHarness(gpuDriverStep, host, params()).apply()).rejects.toMatchObject({
      code: "NVIDIA_NOUVEAU_LOADED",
    });
  });

  it("names the installer's log when the runfile fails, and keeps the record for undo", async () => {
    const host = fakeGpuHost({ nouveau: "absent", headers: true });
    host.exec.answer(RUNFILE_ARGV, {
      code: 1,
      stderr: "ERROR: An error occurred while performing the step: Building kernel modules\n",
    });
    const step = stepHarness(gpuDriverStep, host, params([]));
    await expect(step.apply()).rejects.toThrow(
      `the NVIDIA installer ${RUNFILE_REF.path} failed: \`${RUNFILE_ARGV}\` exited 1: ERROR: An error occurred while performing the step: Building kernel modules; see /var/log/nvidia-installer.log`,
    );
    expect((await step.ledger.read())?.uninstallers).toHaveLength(1);
    // nvidia-uninstall never got installed: undo says so and changes nothing.
    expect(await step.undo()).toEqual({
      changes: [
        `left the NVIDIA driver (${RUNFILE_REF.path}): /usr/bin/nvidia-uninstall is gone (already uninstalled)`,
      ],
    });
  });

  it("verify: nvidia-smi must work and list every GPU sysfs shows", async () => {
    const host = fakeGpuHost({ nouveau: "absent", gpus: 2 });
    const step = stepHarness(gpuDriverStep, host, params());
    await expect(step.verify()).rejects.toMatchObject({ code: "NVIDIA_DRIVER_NOT_WORKING" });
    host.exec.answer(SMI, { stdout: "NVIDIA H200, 550.54.15\n" });
    await expect(step.verify()).rejects.toThrow(
      "nvidia-smi lists 1 GPU(s) but sysfs has 2 NVIDIA display function(s) (0000:3b:00.0, 0000:3c:00.0)",
    );
  });

  it("check names a loaded module that nvidia-smi cannot talk to", async () => {
    const host = fakeGpuHost({ nouveau: "absent", headers: true, driver: { by: "runfile", loaded: true } });
    host.exec.answer(SMI, {
      code: 18,
      stdout: "Failed to initialize NVML: Driver/library version mismatch\n",
    });
    expect((await stepHarness(gpuDriverStep, host, params([])).check()).reason).toBe(
      `no working NVIDIA driver (\`${SMI}\` exited 18: Failed to initialize NVML: Driver/library version mismatch); the nvidia kernel module 550.54.15 is loaded (/proc/driver/nvidia/version)`,
    );
  });

  it("validates its params", () => {
    expect(() => gpuDriverStep.bind({})).toThrow(/gpu.driver are not valid at runfile/);
    expect(() => gpuDriverStep.bind({ runfile: { ...RUNFILE_REF, kind: "deb" } })).toThrow(
      /not valid at runfile: an nvidia-driver artifact/,
    );
    expect(() => gpuDriverStep.bind({ runfile: RUNFILE_REF, kernelModuleType: "closed" })).toThrow(
      /not valid at kernelModuleType/,
    );
    expect(() => gpuDriverStep.bind({ runfile: RUNFILE_REF, casDir: "relative" })).toThrow(/casDir/);
    expect(gpuDriverStep.bind({ runfile: RUNFILE_REF }).title).toBe(
      `Install the NVIDIA driver from ${RUNFILE_REF.path}`,
    );
  });
});

describe("kernel headers in the bundle", () => {
  const deb = (name: string) => ({ file: `/x/${name}`, name, version: "1" });
  it("keeps the running kernel's headers (Debian and Ubuntu naming) and every non-headers package", () => {
    const debs = [
      "linux-headers-6.1.0-18-amd64",
      "linux-headers-6.1.0-18-common",
      "linux-headers-6.1.0-20-amd64",
      "linux-headers-6.1.0-20-common",
      "linux-headers-amd64",
      "linux-kbuild-6.1",
      "dkms",
    ].map(deb);
    expect(debsForKernel(debs, "6.1.0-18-amd64").map((d) => d.name)).toEqual([
      "linux-headers-6.1.0-18-amd64",
      "linux-headers-6.1.0-18-common",
      "linux-kbuild-6.1",
      "dkms",
    ]);
    const ubuntu = ["linux-headers-6.8.0-45-generic", "linux-headers-6.8.0-45", "linux-headers-6.8.0-4"].map(
      deb,
    );
    expect(debsForKernel(ubuntu, "6.8.0-45-generic").map((d) => d.name)).toEqual([
      "linux-headers-6.8.0-45-generic",
      "linux-headers-6.8.0-45",
    ]);
    expect(headerKernels(debs)).toEqual(["6.1.0-18-amd64", "6.1.0-20-amd64"]);
  });
});
