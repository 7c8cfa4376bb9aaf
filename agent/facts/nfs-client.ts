import { NFS_MOUNT_HELPERS, type HostFacts } from "../../shared/facts.js";
import type { ReadonlyFs } from "../../shared/host-io.js";

/**
 * The NFS mount helper kubelet needs to mount NFS volumes: the first of
 * NFS_MOUNT_HELPERS that exists and is not a directory (a symbolic link
 * counts: stat does not follow it), or null when the host has none (no
 * nfs-common). Reads only; a path that cannot be examined (other than
 * missing) rejects.
 */
export async function readNfsMountHelper(fs: ReadonlyFs): Promise<HostFacts["nfsMountHelper"]> {
  for (const path of NFS_MOUNT_HELPERS) {
    const stats = await fs.stat(path);
    if (stats !== undefined && !stats.isDirectory) return path;
  }
  return null;
}
