import { describe, expect, it } from "vitest";
import { isDisplayClass, readGpus } from "../../agent/facts/gpus.js";
import { fakeFs } from "../fakes/fake-fs.js";
import { pciFunction } from "../fakes/fake-host.js";

describe("NVIDIA GPUs from sysfs", () => {
  it("counts an NVIDIA display function, not its HDMI audio function nor another vendor's GPU", async () => {
    const fs = fakeFs({
      ...pciFunction("0000:00:02.0", {
        vendor: "0x8086",
        device: "0x4c8a",
        class: "0x030000",
        driver: "i915",
      }),
      ...pciFunction("0000:3b:00.0", {
        vendor: "0x10de",
        device: "0x2330",
        class: "0x030200",
        driver: "nvidia",
      }),
      ...pciFunction("0000:3b:00.1", { vendor: "0x10de", device: "0x22ba", class: "0x040300" }),
      ...pciFunction("0000:00:1f.3", { vendor: "0x8086", device: "0x7a50", class: "0x040300" }),
    });
    expect(await readGpus(fs)).toEqual([
      {
        pciAddress: "0000:3b:00.0",
        vendorId: "0x10de",
        deviceId: "0x2330",
        classCode: "0x030200",
        driver: "nvidia",
      },
    ]);
  });

  it("reports the bound driver: nvidia, nouveau, or none", async () => {
    const fs = fakeFs({
      ...pciFunction("0000:01:00.0", {
        vendor: "0x10de",
        device: "0x1eb8",
        class: "0x030200",
        driver: "nouveau",
      }),
      ...pciFunction("0000:02:00.0", { vendor: "0x10DE", device: "0x1EB8", class: "0x030000" }),
    });
    const gpus = await readGpus(fs);
    expect(gpus.map((gpu) => [gpu.pciAddress, gpu.driver])).toEqual([
      ["0000:01:00.0", "nouveau"],
      ["0000:02:00.0", null],
    ]);
    expect(gpus[1]).toMatchObject({ vendorId: "0x10de", deviceId: "0x1eb8" });
  });

  it("finds none on a host with no GPU, an empty PCI bus, or no PCI in sysfs at all", async () => {
    const noGpu = fakeFs({
      ...pciFunction("0000:00:00.0", { vendor: "0x8086", device: "0x1237", class: "0x060000" }),
    });
    expect(await readGpus(noGpu)).toEqual([]);
    expect(await readGpus(fakeFs({ "/sys/bus/pci/devices/.keep": "" }))).toEqual([]);
    expect(await readGpus(fakeFs({ "/proc/1/comm": "systemd\n" }))).toEqual([]);
  });

  it("knows the display classes", () => {
    for (const code of ["0x030000", "0x030100", "0x030200", "0x038000"])
      expect(isDisplayClass(code)).toBe(true);
    for (const code of ["0x040300", "0x020000", "0x0302", "", "0x0302000"])
      expect(isDisplayClass(code)).toBe(false);
  });
});
