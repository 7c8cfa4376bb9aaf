import type { ArchiveContent } from "./archive-content.js";
import { digestHex, jsonBlob, type Blob } from "./blob.js";
import { imagePlatform } from "./image-config.js";
import type { ImageReference } from "./image-reference.js";
import type { ImageSpec } from "./image-spec.js";
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from "./media-types.js";
import type { UstarEntry } from "./ustar.js";

const LAYOUT_VERSION = "1.0.0";
const CONTAINERD_NAME = "io.containerd.image.name";
const REF_NAME = "org.opencontainers.image.ref.name";

/**
 * The files of an OCI image layout (step-catalog R3 input 3, what Docker ≥ 25
 * also writes, less its manifest.json) of a one-layer image:
 *
 *   oci-layout           {"imageLayoutVersion": "1.0.0"}
 *   index.json           one image manifest descriptor, with the platform and the
 *                        annotations io.containerd.image.name (the canonical
 *                        reference) and org.opencontainers.image.ref.name (the tag)
 *   blobs/sha256/<hex>   the manifest, the config and the gzip-compressed layer
 *
 * `gzipLayer` is the compressed layer; the config's diff_id stays the digest
 * of the uncompressed tar.
 */
export function ociLayoutContent(
  spec: ImageSpec,
  reference: ImageReference,
  config: Blob,
  gzipLayer: Blob,
): ArchiveContent {
  const manifest = jsonBlob({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
    layers: [{ mediaType: OCI_LAYER_GZIP, digest: gzipLayer.digest, size: gzipLayer.size }],
  });
  const index = jsonBlob({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: manifest.digest,
        size: manifest.size,
        annotations: { [CONTAINERD_NAME]: reference.canonical, [REF_NAME]: reference.tag },
        platform: imagePlatform(spec.arch),
      },
    ],
  });
  const blobs = new Map<string, Blob>();
  for (const blob of [manifest, config, gzipLayer]) blobs.set(blob.digest, blob);
  const entries: UstarEntry[] = [
    { type: "directory", path: "blobs", mode: 0o755 },
    { type: "directory", path: "blobs/sha256", mode: 0o755 },
    ...[...blobs.values()].map((blob): UstarEntry => ({
      type: "file",
      path: `blobs/sha256/${digestHex(blob.digest)}`,
      mode: 0o644,
      content: blob.bytes,
    })),
    { type: "file", path: "index.json", mode: 0o644, content: index.bytes },
    {
      type: "file",
      path: "oci-layout",
      mode: 0o644,
      content: jsonBlob({ imageLayoutVersion: LAYOUT_VERSION }).bytes,
    },
  ];
  return { entries, manifest };
}
