import { GroundcrewError } from "../../shared/errors.js";
import type { ArchiveSource } from "./archive-source.js";
import type { ArchiveImage } from "./image-archive.js";
import { isComplete, pushOrder, readManifestTree } from "./manifest-tree.js";
import {
  ANNOTATIONS,
  indexSchema,
  MAX_MANIFEST_BYTES,
  ociLayoutSchema,
  type Descriptor,
  type Platform,
} from "./oci-types.js";
import { choosePlatform } from "./platform-choice.js";
import { parseImageReference, type RepoTag } from "./reference.js";
import { archiveError, type TarEntry } from "./tar-index.js";

/** What a format reader finds: the images, and where each blob they name lies in the tar. */
export interface ArchiveContents {
  readonly images: ArchiveImage[];
  readonly blobs: Map<string, TarEntry>;
}

/**
 * An index.json entry's name: `io.containerd.image.name` (a full reference,
 * as docker save and containerd write), else `org.opencontainers.image.ref.name`
 * when it is a reference with a repository ("busybox:1.35"); a bare tag
 * ("1.35") names no repository and is refused (IMAGE_REFERENCE_INVALID).
 */
function nameOf(descriptor: Descriptor, where: string): RepoTag {
  const full = descriptor.annotations?.[ANNOTATIONS.containerdName];
  if (full !== undefined) return parseImageReference(full, where);
  const ref = descriptor.annotations?.[ANNOTATIONS.refName];
  if (ref !== undefined && /[:/]/.test(ref)) return parseImageReference(ref, where);
  throw new GroundcrewError(
    "IMAGE_REFERENCE_INVALID",
    ref === undefined
      ? `${where}: has no image name (annotation ${ANNOTATIONS.containerdName} or ${ANNOTATIONS.refName})`
      : `${where}: names only the tag ${JSON.stringify(ref)}, not the repository (annotation ${ANNOTATIONS.containerdName} is absent)`,
  );
}

/**
 * Reads an OCI image layout (also what docker save writes from Docker 25
 * on; its manifest.json is then ignored): one image per index.json entry.
 * An entry whose tree is complete is pushed exactly as read (all children,
 * then the entry under its tag). A partial multi-platform index is reduced
 * to one platform manifest (see choosePlatform). Throws
 * IMAGE_ARCHIVE_INVALID / IMAGE_REFERENCE_INVALID naming the archive and entry.
 */
export async function readOciLayout(source: ArchiveSource, platform: Platform): Promise<ArchiveContents> {
  const layoutEntry = source.file("oci-layout");
  const indexEntry = source.file("index.json");
  if (layoutEntry === undefined || indexEntry === undefined) {
    throw archiveError(source.label, "is not an OCI image layout (oci-layout or index.json is not a file)");
  }
  await source.json(layoutEntry, ociLayoutSchema, 4096);
  const { value: index } = await source.json(indexEntry, indexSchema, MAX_MANIFEST_BYTES);
  const blobs = new Map<string, TarEntry>();
  const images: ArchiveImage[] = [];
  for (const [position, descriptor] of index.manifests.entries()) {
    const where = `${source.label}: index.json manifests[${position}]`;
    const { repository, tag } = nameOf(descriptor, where);
    const tree = await readManifestTree(source, descriptor, blobs);
    if (tree === undefined) {
      throw archiveError(
        source.label,
        `has no manifest blob for ${repository}:${tag} (${descriptor.mediaType} ${descriptor.digest})`,
        `index.json manifests[${position}]`,
      );
    }
    if (tree.kind === "manifest" && tree.missingBlob !== undefined) {
      throw archiveError(
        source.label,
        `lacks blob ${tree.missingBlob} of ${repository}:${tag}`,
        `index.json manifests[${position}]`,
      );
    }
    const pushed = isComplete(tree)
      ? tree
      : choosePlatform(
          tree,
          platform,
          source.label,
          `index.json manifests[${position}] (${repository}:${tag})`,
        );
    images.push({ repository, tag, ...pushOrder(pushed) });
  }
  return { images, blobs };
}
