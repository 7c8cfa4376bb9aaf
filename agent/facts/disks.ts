import type { DiskFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";
import { readDirIfExists } from "./read.js";

const SYS_BLOCK = "/sys/block";

/** Kernel pseudo block devices that are not disks: loop devices, RAM disks, compressed swap. */
const NOT_DISKS = /^(?:loop|ram|zram)\d+$/;

/** /sys/block/<name>/size always counts 512-byte sectors, whatever the device's own sector size. */
const SECTOR_BYTES = 512;

/**
 * Block devices under /sys/block except loop*, ram* and zram*, sorted by
 * name. A missing attribute file gets its default (size 0, not rotational,
 * not removable, model ""), never an error; no /sys/block gives [].
 */
export async function readDisks(fs: Fs): Promise<DiskFacts[]> {
  const names = (await readDirIfExists(fs, SYS_BLOCK)).filter((name) => !NOT_DISKS.test(name));
  return Promise.all(
    names.map(async (name) => {
      const attribute = async (file: string): Promise<string> =>
        ((await fs.readTextIfExists(`${SYS_BLOCK}/${name}/${file}`)) ?? "").trim();
      const [sectors, rotational, removable, model] = await Promise.all([
        attribute("size"),
        attribute("queue/rotational"),
        attribute("removable"),
        attribute("device/model"),
      ]);
      const count = /^\d+$/.test(sectors) ? Number(sectors) : 0;
      return {
        name,
        sizeBytes: Number.isSafeInteger(count * SECTOR_BYTES) ? count * SECTOR_BYTES : 0,
        rotational: rotational === "1",
        removable: removable === "1",
        model,
      };
    }),
  );
}
