import type { HostFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";

/** Where space matters: the root file system and /var/lib (k3s, containerd, the registry, our store). */
export const SPACE_PATHS = ["/", "/var/lib"] as const;

/** Free space at each path; a path that does not exist is left out. */
export async function readSpace(fs: Fs): Promise<HostFacts["space"]> {
  const entries = await Promise.all(
    SPACE_PATHS.map(async (path) => {
      try {
        return { path, ...(await fs.statfs(path)) };
      } catch (error) {
        if (error instanceof Error && "code" in error && error.code === "ENOENT") return undefined;
        throw error;
      }
    }),
  );
  return entries.filter((entry) => entry !== undefined);
}
