import type { GpuFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";

export const NVIDIA_VENDOR_ID = "0x10de";
const PCI_DEVICES = "/sys/bus/pci/devices";

/** PCI base class 0x03 is "display controller": VGA (0x0300), XGA (0x0301), 3D (0x0302), other (0x0380). */
export function isDisplayClass(classCode: string): boolean {
  return /^0x03[0-9a-f]{4}$/i.test(classCode.trim());
}

/**
 * NVIDIA GPUs from sysfs: functions with vendor 0x10de and a display class.
 * A GPU's other functions (HDMI audio 0x0403, USB-C controllers) do not
 * count. A host without PCI in sysfs (many containers) has none.
 */
export async function readGpus(fs: Fs): Promise<GpuFacts[]> {
  const addresses = await fs.readDir(PCI_DEVICES).catch(() => []);
  const functions = await Promise.all(
    addresses.map(async (pciAddress): Promise<GpuFacts | undefined> => {
      const attribute = async (name: string): Promise<string> =>
        ((await fs.readTextIfExists(`${PCI_DEVICES}/${pciAddress}/${name}`)) ?? "").trim().toLowerCase();
      const [vendorId, classCode] = await Promise.all([attribute("vendor"), attribute("class")]);
      if (vendorId !== NVIDIA_VENDOR_ID || !isDisplayClass(classCode)) return undefined;
      const driverLink = await fs.readLink(`${PCI_DEVICES}/${pciAddress}/driver`).catch(() => undefined);
      return {
        pciAddress,
        vendorId,
        deviceId: await attribute("device"),
        classCode,
        driver: driverLink === undefined ? null : (driverLink.split("/").pop() ?? null),
      };
    }),
  );
  return functions.filter((gpu) => gpu !== undefined);
}
