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
  const images: string[] = [];
  for (const artifact of bundle?.artifacts ?? []) {
    if (artifact.entry.kind !== "image-archive" || artifact.file === undefined) continue;
    const archive = await openImageArchive(artifact.file, { tmpDir: tmpdir() });
    try {
      images.push(...archive.images.map((image) => `${image.repository}:${image.tag}`));
    } finally {
      await archive.close();
    }
  }
  return images;
}
