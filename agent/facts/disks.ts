import type { DiskFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";

/** Pseudo block devices that are not disks. */
const NOT_DISKS = /^(loop|ram|zram)\d*/;

/** Block devices under /sys/block; a missing attribute gets its default, never an error. */
export async function readDisks(fs: Fs): Promise<DiskFacts[]> {
  const names = await fs.readDir("/sys/block").catch(() => []);
  const disks = names.filter((name) => !NOT_DISKS.test(name));
  return Promise.all(
    disks.map(async (name) => {
      const attribute = async (file: string): Promise<string> =>
        ((await fs.readTextIfExists(`/sys/block/${name}/${file}`)) ?? "").trim();
      const [sectors, rotational, removable, model] = await Promise.all([
        attribute("size"),
        attribute("queue/rotational"),
        attribute("removable"),
        attribute("device/model"),
      ]);
      const size = Number(sectors);
      return {
        name,
        // /sys/block/*/size counts 512-byte sectors whatever the device's own sector size.
        sizeBytes: Number.isSafeInteger(size) && size >= 0 ? size * 512 : 0,
        rotational: rotational === "1",
        removable: removable === "1",
        model,
      };
    }),
  );
}
