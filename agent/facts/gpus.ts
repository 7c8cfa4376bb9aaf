import { posix } from "node:path";
import type { GpuFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";
import { readDirIfExists, readLinkIfExists } from "./read.js";

export const NVIDIA_VENDOR_ID = "0x10de";
const PCI_DEVICES = "/sys/bus/pci/devices";

/**
 * PCI base class 0x03 is "display controller": VGA (0x0300xx), XGA (0x0301xx),
 * 3D (0x0302xx), other (0x0380xx). `classCode` is sysfs's "0xCCSSPP" form.
 */
export function isDisplayClass(classCode: string): boolean {
  return /^0x03[0-9a-f]{4}$/i.test(classCode.trim());
}

/**
 * NVIDIA GPUs from sysfs: PCI functions with vendor 0x10de and a display
 * class, in PCI address order. A GPU's other functions (HDMI audio 0x0403xx,
 * USB-C controllers) do not count. `driver` is the name of the bound driver
 * (basename of the `driver` link), null when none is bound. A host without
 * /sys/bus/pci/devices (many containers and VMs) has none.
 */
export async function readGpus(fs: Fs): Promise<GpuFacts[]> {
  const addresses = await readDirIfExists(fs, PCI_DEVICES);
  const functions = await Promise.all(
    addresses.map(async (pciAddress): Promise<GpuFacts | undefined> => {
      const dir = `${PCI_DEVICES}/${pciAddress}`;
      const attribute = async (name: string): Promise<string> =>
        ((await fs.readTextIfExists(`${dir}/${name}`)) ?? "").trim().toLowerCase();
      const [vendorId, classCode] = await Promise.all([attribute("vendor"), attribute("class")]);
      if (vendorId !== NVIDIA_VENDOR_ID || !isDisplayClass(classCode)) return undefined;
      const [deviceId, driverLink] = await Promise.all([
        attribute("device"),
        readLinkIfExists(fs, `${dir}/driver`),
      ]);
      return {
        pciAddress,
        vendorId,
        deviceId,
        classCode,
        driver: driverLink === undefined ? null : posix.basename(driverLink),
      };
    }),
  );
  return functions.filter((gpu) => gpu !== undefined);
}
