import { createHash } from "node:crypto";
import type { ArchiveContent } from "./archive-content.js";
import { digestHex, jsonBlob, type Blob } from "./blob.js";
import { IMAGE_CREATED, imagePlatform, runtimeConfig } from "./image-config.js";
import type { ImageReference } from "./image-reference.js";
import type { ImageSpec } from "./image-spec.js";

const LEGACY_LAYER_VERSION = "1.0";

/**
 * The files of a legacy `docker save` archive (Docker < 25, the format of
 * step-catalog R3 input 1) of a one-layer image:
 *
 *   <config hex>.json                  the config, its file name its sha256 (the image ID)
 *   <layer id>/VERSION, json, layer.tar   the layer (uncompressed) and its legacy v1 metadata
 *   manifest.json                      [{Config, RepoTags, Layers}]
 *   repositories                       {"<repo>": {"<tag>": "<layer id>"}}
 *
 * RepoTags and repositories use Docker's familiar names ("busybox:1.35"), as
 * `docker save` writes them. The legacy layer id is, as in Docker, a sha256
 * of the v1 JSON with the layer's diff_id in it, so it changes with the image.
 */
export function dockerSaveContent(
  spec: ImageSpec,
  reference: ImageReference,
  config: Blob,
  layer: Blob,
): ArchiveContent {
  const legacy = {
    created: IMAGE_CREATED,
    ...imagePlatform(spec.arch),
    config: runtimeConfig(spec),
  };
  const layerId = createHash("sha256")
    .update(JSON.stringify({ ...legacy, layer_id: layer.digest }))
    .digest("hex");
  const layerJson = jsonBlob({ id: layerId, ...legacy });
  const configFile = `${digestHex(config.digest)}.json`;
  const manifest = jsonBlob([
    { Config: configFile, RepoTags: [reference.familiar], Layers: [`${layerId}/layer.tar`] },
  ]);
  const repositories = jsonBlob({ [reference.familiarName]: { [reference.tag]: layerId } });
  return {
    manifest,
    entries: [
      { type: "file", path: configFile, mode: 0o644, content: config.bytes },
      { type: "directory", path: layerId, mode: 0o755 },
      { type: "file", path: `${layerId}/VERSION`, mode: 0o644, content: Buffer.from(LEGACY_LAYER_VERSION) },
      { type: "file", path: `${layerId}/json`, mode: 0o644, content: layerJson.bytes },
      { type: "file", path: `${layerId}/layer.tar`, mode: 0o644, content: layer.bytes },
      { type: "file", path: "manifest.json", mode: 0o644, content: manifest.bytes },
      { type: "file", path: "repositories", mode: 0o644, content: repositories.bytes },
    ],
  };
}
