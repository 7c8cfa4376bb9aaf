import { describe, expect, it } from "vitest";
import {
  driverOwner,
  kernelRelease,
  loadedModuleVersion,
  moduleLoaded,
  NVIDIA_SMI_QUERY,
  queryNvidiaSmi,
} from "../../agent/facts/nvidia-driver.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { fakeFs } from "../fakes/fake-fs.js";

const QUERY = NVIDIA_SMI_QUERY.join(" ");

describe("NVIDIA driver detection", () => {
  it("reads every GPU nvidia-smi lists", async () => {
    const exec = fakeExec({ [QUERY]: { stdout: "NVIDIA H200, 550.54.15\nNVIDIA H200, 550.54.15\n" } });
    expect(await queryNvidiaSmi(exec)).toEqual({
      ok: true,
      gpus: [
        { name: "NVIDIA H200", driverVersion: "550.54.15" },
        { name: "NVIDIA H200", driverVersion: "550.54.15" },
      ],
    });
  });

  it("does not count nvidia-smi as working when it fails, lists no GPU, or is missing", async () => {
    const failing = fakeExec({
      [QUERY]: {
        code: 9,
        stdout: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
      },
    });
    expect(await queryNvidiaSmi(failing)).toEqual({
      ok: false,
      reason: `\`${QUERY}\` exited 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.`,
    });
    expect(await queryNvidiaSmi(fakeExec({ [QUERY]: { stdout: "No devices were found\n" } }))).toEqual({
      ok: false,
      reason: `\`${QUERY}\` exited 0: No devices were found`,
    });
    expect(await queryNvidiaSmi(fakeExec({ [QUERY]: new Error("spawn nvidia-smi ENOENT") }))).toEqual({
      ok: false,
      reason: `\`${QUERY}\` exited 127: spawn nvidia-smi ENOENT`,
    });
  });

  it("tells loaded modules from /proc/modules (what lsmod reads), and the loaded driver's version", async () => {
    const fs = fakeFs({
      "/proc/modules": "nouveau_extra 1 0 - Live 0x0\nnouveau 2809856 0 - Live 0x0\n",
      "/proc/driver/nvidia/version":
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  560.35.03  Release Build  (dvs-builder@U16)\n",
      "/proc/sys/kernel/osrelease": "6.8.0-45-generic\n",
    });
    expect(await moduleLoaded(fs, "nouveau")).toBe(true);
    expect(await moduleLoaded(fs, "nvidia")).toBe(false);
    expect(await loadedModuleVersion(fs)).toBe("560.35.03");
    expect(await kernelRelease(fs)).toBe("6.8.0-45-generic");
    expect(await loadedModuleVersion(fakeFs({}))).toBeUndefined();
    expect(await moduleLoaded(fakeFs({}), "nouveau")).toBe(false);
  });

  it("says who installed the driver: a runfile, a package, an unknown installer, or nobody", async () => {
    const dpkg = "dpkg -S /usr/bin/nvidia-smi";
    expect(
      await driverOwner(fakeExec(), fakeFs({ "/usr/bin/nvidia-uninstall": "", "/usr/bin/nvidia-smi": "" })),
    ).toEqual({
      by: "runfile",
      evidence: "/usr/bin/nvidia-uninstall",
    });
    const packaged = fakeExec({ [dpkg]: { stdout: "nvidia-utils-550-server:amd64: /usr/bin/nvidia-smi\n" } });
    expect(await driverOwner(packaged, fakeFs({ "/usr/bin/nvidia-smi": "" }))).toEqual({
      by: "package",
      evidence: "/usr/bin/nvidia-smi",
      packageName: "nvidia-utils-550-server",
    });
    const orphan = fakeExec({ [dpkg]: { code: 1, stderr: "dpkg-query: no path found matching pattern\n" } });
    expect(await driverOwner(orphan, fakeFs({ "/usr/bin/nvidia-smi": "" }))).toEqual({
      by: "unknown",
      evidence: "/usr/bin/nvidia-smi, which no package owns",
    });
    expect(await driverOwner(fakeExec(), fakeFs({}))).toEqual({ by: "none" });
  });
});
