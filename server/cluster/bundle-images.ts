import { tmpdir } from "node:os";
import { openImageArchive } from "../../agent/registry/image-archive.js";
import type { VerifiedBundle } from "../bundle/verified-bundle.js";

/**
 * The images the bundle's image archives hold ("library/busybox:1.36"), in
 * manifest order, read from the verified copies on the provisioner (their
 * indexes only, not the layers). Throws IMAGE_ARCHIVE_INVALID naming an
 * archive that cannot be read, before any host is touched.
 */
export async function bundleImages(bundle: VerifiedBundle | undefined): Promise<string[]> {
  return (await bundleImageArchives(bundle)).flatMap((archive) => archive.images);
}

/** The same, archive by archive: each image archive's bundle path and the images it holds. */
export async function bundleImageArchives(
  bundle: VerifiedBundle | undefined,
): Promise<{ path: string; images: string[] }[]> {
  const archives: { path: string; images: string[] }[] = [];
  for (const artifact of bundle?.artifacts ?? []) {
    if (artifact.entry.kind !== "image-archive" || artifact.file === undefined) continue;
    const archive = await openImageArchive(artifact.file, { tmpDir: tmpdir() });
    try {
      archives.push({
        path: artifact.entry.path,
        images: archive.images.map((image) => `${image.repository}:${image.tag}`),
      });
    } finally {
      await archive.close();
    }
  }
  return archives;
}
