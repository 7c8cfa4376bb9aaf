import type { HostFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";
import { isNotFound } from "./read.js";

/** Where space matters: the root file system and /var/lib (k3s, containerd, the registry, our store). */
export const SPACE_PATHS = ["/", "/var/lib"] as const;

/**
 * Size and free space of the file system holding each of SPACE_PATHS, in
 * that order. A path whose statfs fails with ENOENT is left out; any other
 * failure propagates.
 */
export async function readSpace(fs: Fs): Promise<HostFacts["space"]> {
  const entries = await Promise.all(
    SPACE_PATHS.map(async (path) => {
      try {
        const { totalBytes, availableBytes } = await fs.statfs(path);
        return { path, totalBytes, availableBytes };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    }),
  );
  return entries.filter((entry) => entry !== undefined);
}
