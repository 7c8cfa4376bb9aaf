import { GroundcrewError } from "../../shared/errors.js";
import { sha256Digest, type ArchiveSource } from "./archive-source.js";
import type { ArchiveBlob, ArchiveImage, ArchiveManifest } from "./image-archive.js";
import type { ArchiveContents } from "./oci-layout.js";
import { dockerSaveManifestSchema, imageConfigSchema, MAX_MANIFEST_BYTES, MEDIA_TYPES } from "./oci-types.js";
import { parseImageReference } from "./reference.js";
import { archiveError, type TarEntry } from "./tar-index.js";

/** Image configs hold the build history; far below this in practice. */
const MAX_CONFIG_BYTES = 32 * 1024 * 1024;

/**
 * A layer as stored: docker save writes uncompressed tars whose sha256 is
 * the config's diff_id, so nothing is read. Other writers of this format
 * (go-containerregistry's tarball) store gzip or zstd layers: their digest
 * is then computed by streaming the entry once.
 */
async function layerBlob(source: ArchiveSource, entry: TarEntry, diffId: string): Promise<ArchiveBlob> {
  const magic = await source.head(entry, 4);
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  const zstd = magic.equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
  if (!gzip && !zstd) return { digest: diffId, size: entry.size, mediaType: MEDIA_TYPES.ociLayerTar };
  return {
    digest: await source.digestOf(entry),
    size: entry.size,
    mediaType: `${MEDIA_TYPES.ociLayerTar}+${gzip ? "gzip" : "zstd"}`,
  };
}

/**
 * The OCI manifest synthesized for a legacy image. Serialized once, with a
 * fixed key order and no whitespace, so every run yields the same digest.
 */
export function synthesizeManifest(config: ArchiveBlob, layers: readonly ArchiveBlob[]): ArchiveManifest {
  const descriptor = (blob: ArchiveBlob): { mediaType: string; digest: string; size: number } => ({
    mediaType: blob.mediaType,
    digest: blob.digest,
    size: blob.size,
  });
  const text = JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: descriptor(config),
    layers: layers.map(descriptor),
  });
  const bytes = new TextEncoder().encode(text);
  return { digest: sha256Digest(bytes), mediaType: MEDIA_TYPES.ociManifest, bytes };
}

/**
 * Reads a legacy `docker save` archive (manifest.json + <id>/layer.tar):
 * the config bytes are kept unchanged (mediaType OCI config), each layer is
 * pushed as stored, and one OCI manifest is synthesized per image; each of
 * its RepoTags becomes an image. Throws IMAGE_ARCHIVE_INVALID naming the
 * archive and entry for missing files or a config whose diff_ids do not
 * match the layers; IMAGE_REFERENCE_INVALID for an untagged image or a bad name.
 */
export async function readDockerSave(source: ArchiveSource): Promise<ArchiveContents> {
  const manifestEntry = source.file("manifest.json");
  if (manifestEntry === undefined) throw archiveError(source.label, "has no manifest.json file");
  const { value: entries } = await source.json(manifestEntry, dockerSaveManifestSchema, MAX_MANIFEST_BYTES);
  const blobs = new Map<string, TarEntry>();
  const images: ArchiveImage[] = [];
  for (const [position, item] of entries.entries()) {
    const where = `manifest.json[${position}]`;
    const configEntry = source.file(item.Config);
    if (configEntry === undefined)
      throw archiveError(source.label, `lacks the config blob named by ${where}`, item.Config);
    const { bytes: configBytes, value: imageConfig } = await source.json(
      configEntry,
      imageConfigSchema,
      MAX_CONFIG_BYTES,
    );
    const config: ArchiveBlob = {
      digest: sha256Digest(configBytes),
      size: configEntry.size,
      mediaType: MEDIA_TYPES.ociConfig,
    };
    blobs.set(config.digest, configEntry);
    const diffIds = imageConfig.rootfs.diff_ids;
    if (diffIds.length !== item.Layers.length) {
      throw archiveError(
        source.label,
        `lists ${diffIds.length} diff_ids but ${where} lists ${item.Layers.length} layers`,
        item.Config,
      );
    }
    const layers: ArchiveBlob[] = [];
    for (const [layerPosition, layerName] of item.Layers.entries()) {
      const entry = source.file(layerName);
      if (entry === undefined)
        throw archiveError(source.label, `lacks the layer named by ${where}`, layerName);
      const layer = await layerBlob(source, entry, diffIds[layerPosition] ?? "");
      blobs.set(layer.digest, entry);
      layers.push(layer);
    }
    const manifest = synthesizeManifest(config, layers);
    const unique = [config, ...layers].filter(
      (blob, at, all) => all.findIndex((b) => b.digest === blob.digest) === at,
    );
    const tags = item.RepoTags ?? [];
    if (tags.length === 0) {
      throw new GroundcrewError(
        "IMAGE_REFERENCE_INVALID",
        `${source.label}: ${where} has no RepoTags: an untagged image cannot be seeded`,
      );
    }
    for (const reference of tags) {
      const { repository, tag } = parseImageReference(reference, `${source.label}: ${where} RepoTags`);
      images.push({ repository, tag, manifests: [manifest], blobs: unique });
    }
  }
  return { images, blobs };
}
