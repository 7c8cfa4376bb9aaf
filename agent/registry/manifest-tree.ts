import type { z } from "zod";
import type { ArchiveSource } from "./archive-source.js";
import { sha256Digest } from "./archive-source.js";
import type { ArchiveBlob, ArchiveManifest } from "./image-archive.js";
import {
  imageManifestSchema,
  INDEX_MEDIA_TYPES,
  indexSchema,
  MANIFEST_MEDIA_TYPES,
  MAX_MANIFEST_BYTES,
  type Descriptor,
} from "./oci-types.js";
import { archiveError, type TarEntry } from "./tar-index.js";

/**
 * A manifest or index read from an OCI layout's blobs, with its children.
 * A child whose manifest blob the layout lacks (allowed by the OCI layout
 * spec; typical of a one-platform docker save) has no `node`.
 */
export type ManifestNode =
  | {
      readonly kind: "manifest";
      readonly manifest: ArchiveManifest;
      readonly blobs: readonly ArchiveBlob[];
      /** The first config or layer digest absent from the layout, if any. */
      readonly missingBlob: string | undefined;
    }
  | {
      readonly kind: "index";
      readonly manifest: ArchiveManifest;
      readonly children: readonly ManifestChild[];
    };

export interface ManifestChild {
  readonly descriptor: Descriptor;
  readonly node: ManifestNode | undefined;
}

const MAX_DEPTH = 4;

export function blobPath(digest: string): string {
  return `blobs/${digest.replace(":", "/")}`;
}

/**
 * Reads the manifest or index `descriptor` points at and, recursively, its
 * children. Verifies each manifest's size, sha256 and mediaType against the
 * descriptor, and records every present config and layer in `blobs`.
 * Resolves undefined when the manifest blob is absent or of a media type
 * that is neither an image manifest nor an index (a child then counts as
 * absent). Throws IMAGE_ARCHIVE_INVALID naming the archive and blob on
 * mismatches and on nesting deeper than 4.
 */
export async function readManifestTree(
  source: ArchiveSource,
  descriptor: Descriptor,
  blobs: Map<string, TarEntry>,
  depth = 0,
): Promise<ManifestNode | undefined> {
  const isIndex = INDEX_MEDIA_TYPES.has(descriptor.mediaType);
  if (!isIndex && !MANIFEST_MEDIA_TYPES.has(descriptor.mediaType)) return undefined;
  if (depth > MAX_DEPTH)
    throw archiveError(source.label, "nests indexes too deeply", blobPath(descriptor.digest));
  const entry = presentBlob(source, descriptor);
  if (entry === undefined) return undefined;
  if (isIndex) {
    const { bytes, value } = await readVerified(source, entry, descriptor, indexSchema);
    const children: ManifestChild[] = [];
    for (const child of value.manifests) {
      children.push({ descriptor: child, node: await readManifestTree(source, child, blobs, depth + 1) });
    }
    return {
      kind: "index",
      manifest: { digest: descriptor.digest, mediaType: descriptor.mediaType, bytes },
      children,
    };
  }
  const { bytes, value } = await readVerified(source, entry, descriptor, imageManifestSchema);
  const manifest: ArchiveManifest = { digest: descriptor.digest, mediaType: descriptor.mediaType, bytes };
  const parts = [value.config, ...value.layers];
  let missingBlob: string | undefined;
  for (const part of parts) {
    const blob = presentBlob(source, part);
    if (blob === undefined) missingBlob ??= part.digest;
    else blobs.set(part.digest, blob);
  }
  return {
    kind: "manifest",
    manifest,
    blobs: parts.map(({ digest, size, mediaType }) => ({ digest, size, mediaType })),
    missingBlob,
  };
}

/** A manifest's bytes and parsed JSON, checked against its descriptor's digest and mediaType. */
async function readVerified<T extends { readonly mediaType?: string | undefined }>(
  source: ArchiveSource,
  entry: TarEntry,
  descriptor: Descriptor,
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
): Promise<{ bytes: Buffer; value: T }> {
  const { bytes, value } = await source.json(entry, schema, MAX_MANIFEST_BYTES);
  if (sha256Digest(bytes) !== descriptor.digest) {
    throw archiveError(source.label, "does not match its digest", entry.name);
  }
  if (value.mediaType !== undefined && value.mediaType !== descriptor.mediaType) {
    throw archiveError(
      source.label,
      `has mediaType ${value.mediaType} but is referenced as ${descriptor.mediaType}`,
      entry.name,
    );
  }
  return { bytes, value };
}

/** The blob's entry when present; IMAGE_ARCHIVE_INVALID when its size differs from the descriptor. */
function presentBlob(source: ArchiveSource, descriptor: Descriptor): TarEntry | undefined {
  const entry = source.file(blobPath(descriptor.digest));
  if (entry !== undefined && entry.size !== descriptor.size) {
    throw archiveError(
      source.label,
      `is ${entry.size} bytes but its descriptor says ${descriptor.size}`,
      blobPath(descriptor.digest),
    );
  }
  return entry;
}

/** Whether every manifest and blob under `node` is in the layout, so it can be pushed exactly as read. */
export function isComplete(node: ManifestNode): boolean {
  if (node.kind === "manifest") return node.missingBlob === undefined;
  return node.children.every((child) => child.node !== undefined && isComplete(child.node));
}

/** Push order for a complete tree: every blob, then manifests children-first, `node` last. */
export function pushOrder(node: ManifestNode): { manifests: ArchiveManifest[]; blobs: ArchiveBlob[] } {
  const manifests = new Map<string, ArchiveManifest>();
  const blobs = new Map<string, ArchiveBlob>();
  const visit = (current: ManifestNode): void => {
    if (current.kind === "index") {
      for (const child of current.children) if (child.node !== undefined) visit(child.node);
    } else {
      for (const blob of current.blobs) blobs.set(blob.digest, blob);
    }
    manifests.set(current.manifest.digest, current.manifest);
  };
  visit(node);
  return { manifests: [...manifests.values()], blobs: [...blobs.values()] };
}
