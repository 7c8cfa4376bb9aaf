import { parseImageReference } from "../../agent/registry/reference.js";
import type { VerifiedBundle } from "../bundle/verified-bundle.js";
import { InventoryInvalidError } from "../inventory/problems.js";
import type { Inventory } from "../inventory/types.js";
import { bundleImages } from "./bundle-images.js";
import { registryBinary } from "./install-plan.js";
import { NFS_PROVISIONER_IMAGE } from "./manifests/nfs-storage.js";

/**
 * Why the inventory's `storage.nfs` cannot be served from `bundle`, or []
 * when it can: the provisioner's image must be in one of the bundle's image
 * archives (`images`, as bundleImages lists them), and the depot registry
 * that serves it to the nodes must exist (a depot host, a registry binary
 * in the bundle). Pure.
 */
export function nfsStorageProblems(
  inventory: Inventory,
  bundle: Pick<VerifiedBundle, "location" | "artifacts">,
  images: readonly string[],
): string[] {
  if (inventory.storage.nfs === undefined) return [];
  const problems: string[] = [];
  const { repository, tag } = parseImageReference(NFS_PROVISIONER_IMAGE, "the NFS provisioner image");
  if (!images.includes(`${repository}:${tag}`)) {
    const file = `nfs-subdir-external-provisioner-${tag}.tar`;
    problems.push(
      `image ${NFS_PROVISIONER_IMAGE} is in no image archive of the bundle. Where there is network access, ` +
        `save it (docker pull ${NFS_PROVISIONER_IMAGE} && docker save ${NFS_PROVISIONER_IMAGE} -o ${file}) ` +
        `and add it: groundcrew bundle add ${bundle.location} ${file} --kind image-archive --version ${tag} ` +
        `--arch amd64 (or arm64: the depot's architecture)`,
    );
  }
  if (!inventory.hosts.some((host) => host.depot))
    problems.push(
      "the provisioner's image is served by the depot registry, but no host is the depot: set depot: true on one",
    );
  if (registryBinary(bundle.artifacts) === undefined)
    problems.push(
      "the provisioner's image is served by the depot registry, but the bundle has no registry binary " +
        "(an artifact of kind registry, or a deb of component registry)",
    );
  return problems;
}

/**
 * `up` and `up --dry-run`, before any host is touched: throws an
 * InventoryInvalidError (INVENTORY_INVALID) naming the inventory file and
 * the line of `storage.nfs` for every nfsStorageProblems found. Reads the
 * image archives' indexes only when `storage.nfs` is set. Without a bundle
 * nothing is installed, so nothing is checked.
 */
export async function checkNfsStorage(
  inventory: Inventory,
  bundle: VerifiedBundle | undefined,
): Promise<void> {
  const nfs = inventory.storage.nfs;
  if (bundle === undefined || nfs === undefined) return;
  const problems = nfsStorageProblems(inventory, bundle, await bundleImages(bundle));
  if (problems.length > 0)
    throw new InventoryInvalidError(
      inventory.file,
      problems.map((message) => ({ line: nfs.line, message: `storage.nfs: ${message}` })),
    );
}
