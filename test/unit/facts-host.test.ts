import { describe, expect, it } from "vitest";
import { countCpuList, parseCpuinfo, readCpu } from "../../agent/facts/cpu.js";
import { readDisks } from "../../agent/facts/disks.js";
import { readIdentity } from "../../agent/facts/identity.js";
import { artifactArch, readKernel, readMachine } from "../../agent/facts/kernel.js";
import { parseMeminfo, readMemory } from "../../agent/facts/memory.js";
import { readSpace } from "../../agent/facts/space.js";
import { readSystemd } from "../../agent/facts/systemd.js";
import { isGroundcrewError } from "../../shared/errors.js";
import type { Fs } from "../../shared/host-io.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { directory, fakeFs } from "../fakes/fake-fs.js";

/** What a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (error: unknown) => error,
  );
}

const X86_CPUINFO = `processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 106
model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8: not a key
bugs\t\t: spectre_v1

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz

processor\t: 2
model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz
`;

describe("cpu", () => {
  it("counts x86 processors and takes the first model name", () => {
    expect(parseCpuinfo(X86_CPUINFO)).toEqual({
      count: 3,
      model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
    });
  });

  it("falls back to Hardware on 32-bit Arm", () => {
    const text =
      "Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\nprocessor\t: 1\nHardware\t: BCM2835\n";
    expect(parseCpuinfo(text)).toEqual({ count: 2, model: "BCM2835" });
  });

  it("counts CPU lists, ignoring malformed and reversed parts", () => {
    expect(countCpuList("0-3,5,7-8")).toBe(7);
    expect(countCpuList("0-63\n")).toBe(64);
    expect(countCpuList("")).toBe(0);
    expect(countCpuList("-3,x,5-2,4")).toBe(1);
  });

  it("keeps the cpuinfo model when counting from the online list", async () => {
    const fs = fakeFs({
      "/proc/cpuinfo": "CPU part\t: 0xd08\n",
      "/sys/devices/system/cpu/online": "0-3,5,7-8\n",
    });
    expect(await readCpu(fs)).toEqual({ count: 7, model: "0xd08" });
  });

  it("refuses to guess when no source lists a CPU", async () => {
    const error = await rejection(readCpu(fakeFs({ "/proc/cpuinfo": "" })));
    expect(isGroundcrewError(error, "FACTS_UNREADABLE")).toBe(true);
    expect(String(error)).toMatch(/cannot count CPUs/);
  });
});

describe("kernel, identity, memory", () => {
  it("trims the kernel release and version", async () => {
    const fs = fakeFs({
      "/proc/sys/kernel/osrelease": "6.1.0-18-amd64\n",
      "/proc/sys/kernel/version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n",
    });
    expect(await readKernel(fs)).toEqual({
      release: "6.1.0-18-amd64",
      version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
    });
  });

  it("names the path when a required /proc file is missing", async () => {
    const error = await rejection(readKernel(fakeFs({ "/proc/sys/kernel/osrelease": "6.1\n" })));
    expect(isGroundcrewError(error, "FACTS_UNREADABLE")).toBe(true);
    expect(String(error)).toMatch(/cannot read \/proc\/sys\/kernel\/version/);
    expect(await rejection(readMemory(fakeFs({})))).toMatchObject({
      code: "FACTS_UNREADABLE",
      context: { path: "/proc/meminfo" },
    });
  });

  it("reads the machine from uname -m, and fails clearly when uname does", async () => {
    expect(await readMachine(fakeExec({ "uname -m": { stdout: "aarch64\n" } }))).toBe("aarch64");
    const error = await rejection(readMachine(fakeExec({})));
    expect(isGroundcrewError(error, "FACTS_UNREADABLE")).toBe(true);
    expect(String(error)).toMatch(/`uname -m` failed \(exit 127\): not found/);
  });

  it("reads the hostname and machine-id trimmed; a missing machine-id is empty", async () => {
    const hostname = "/proc/sys/kernel/hostname";
    expect(await readIdentity(fakeFs({ [hostname]: "node-7\n", "/etc/machine-id": "abc123\n" }))).toEqual({
      hostname: "node-7",
      machineId: "abc123",
    });
    expect(await readIdentity(fakeFs({ [hostname]: "node-7\n" }))).toEqual({
      hostname: "node-7",
      machineId: "",
    });
  });

  it("reads meminfo from the host in bytes", async () => {
    const meminfo =
      "MemTotal:        8000000 kB\nMemFree:  1 kB\nMemAvailable:    6000000 kB\nHugePages_Total:       0\n";
    expect(await readMemory(fakeFs({ "/proc/meminfo": meminfo }))).toEqual({
      totalBytes: 8000000 * 1024,
      availableBytes: 6000000 * 1024,
    });
  });
});

describe("meminfo and architecture", () => {
  it("falls back to MemFree without MemAvailable, and refuses a meminfo without MemTotal", () => {
    expect(parseMeminfo("MemTotal: 10 kB\nMemFree: 5 kB\n")).toEqual({
      totalBytes: 10240,
      availableBytes: 5120,
    });
    expect(() => parseMeminfo("MemFree: 1 kB\n")).toThrow(/MemTotal/);
  });

  it("maps machine names to artifact architectures", () => {
    expect(["x86_64", "aarch64", "armv7l", "riscv64"].map(artifactArch)).toEqual([
      "amd64",
      "arm64",
      "arm",
      "riscv64",
    ]);
  });
});

describe("systemd", () => {
  it("sees systemd as PID 1 and booted", async () => {
    const fs = fakeFs({ "/proc/1/comm": "systemd\n", "/run/systemd/system": directory() });
    expect(await readSystemd(fs)).toEqual({ pid1: true, booted: true });
  });

  it("is not fooled by another init, a file in place of the directory, or a container", async () => {
    const tini = fakeFs({ "/proc/1/comm": "tini\n", "/run/systemd/system": "not a directory" });
    expect(await readSystemd(tini)).toEqual({ pid1: false, booted: false });
    expect(await readSystemd(fakeFs({}))).toEqual({ pid1: false, booted: false });
  });
});

describe("disks", () => {
  it("keeps device-mapper, md, optical and NVMe devices; drops only loop, ram and zram", async () => {
    const fs = fakeFs({
      "/sys/block/dm-0/size": "2048\n",
      "/sys/block/md127/size": "4096\n",
      "/sys/block/nvme0n1/size": "8\n",
      "/sys/block/sr0/size": "0\n",
      "/sys/block/sr0/removable": "1\n",
      "/sys/block/loop0/size": "8\n",
      "/sys/block/loop12/size": "8\n",
      "/sys/block/ram15/size": "8\n",
      "/sys/block/zram1/size": "8\n",
    });
    const disks = await readDisks(fs);
    expect(disks.map((disk) => [disk.name, disk.sizeBytes, disk.removable])).toEqual([
      ["dm-0", 2048 * 512, false],
      ["md127", 4096 * 512, false],
      ["nvme0n1", 8 * 512, false],
      ["sr0", 0, true],
    ]);
  });
});

describe("space", () => {
  const space = { totalBytes: 1000, availableBytes: 250 };

  it("reports / and /var/lib in that order, each with its own file system", async () => {
    const fs = fakeFs(
      { "/var/lib/.keep": "" },
      { statfs: { "/": space, "/var/lib": { totalBytes: 5000, availableBytes: 4000 } } },
    );
    expect(await readSpace(fs)).toEqual([
      { path: "/", ...space },
      { path: "/var/lib", totalBytes: 5000, availableBytes: 4000 },
    ]);
  });

  it("skips a path whose statfs is ENOENT but lets other failures through", async () => {
    expect(await readSpace(fakeFs({ "/var/lib/.keep": "" }, { statfs: { "/var/lib": space } }))).toEqual([
      { path: "/var/lib", ...space },
    ]);
    const broken: Fs = {
      ...fakeFs({}),
      statfs: () => Promise.reject(Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" })),
    };
    await expect(readSpace(broken)).rejects.toMatchObject({ code: "EACCES" });
  });
});
