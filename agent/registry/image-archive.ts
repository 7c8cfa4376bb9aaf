import type { Exec } from "../../shared/host-io.js";
import { plainTarOf } from "./archive-file.js";
import { ArchiveSource } from "./archive-source.js";
import { readDockerSave } from "./docker-save.js";
import { readOciLayout, type ArchiveContents } from "./oci-layout.js";
import type { Platform } from "./oci-types.js";
import { DEFAULT_PLATFORM } from "./platform-choice.js";
import { archiveError, indexTar } from "./tar-index.js";

export interface ArchiveBlob {
  /** "sha256:<hex>" */
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

export interface ArchiveManifest {
  readonly digest: string;
  readonly mediaType: string;
  /** The exact bytes read from the archive, never re-serialized (except the one synthesized for legacy docker save). */
  readonly bytes: Uint8Array;
}

export interface ArchiveImage {
  /** The upstream path without the registry host ("library/busybox", "pause", "org/app"); OCI name grammar. */
  readonly repository: string;
  /** OCI tag grammar. */
  readonly tag: string;
  /** In push order: child manifests first (pushed by digest), the last one is pushed under the tag. */
  readonly manifests: readonly ArchiveManifest[];
  /** Every config and layer the manifests reference, each once. */
  readonly blobs: readonly ArchiveBlob[];
}

export interface ImageArchive {
  /** The archive file as given to openImageArchive. */
  readonly file: string;
  readonly images: readonly ArchiveImage[];
  /**
   * Streams one blob's bytes from the archive (as stored: the caller
   * verifies the digest). Throws IMAGE_ARCHIVE_INVALID for a digest no image
   * references, or after close().
   */
  openBlob(digest: string): NodeJS.ReadableStream;
  /** Removes the decompressed scratch copy, if any. Idempotent. */
  close(): Promise<void>;
}

export interface OpenArchiveOptions {
  /** Scratch directory for decompressing .tar.gz / .tar.zst: on disk, with room for the uncompressed archive. */
  readonly tmpDir: string;
  /** Runs `zstd -d` for zstd-compressed archives (k3s airgap images); without it they are refused. */
  readonly exec?: Exec;
  /** Platform pushed from a partial multi-platform index; linux/amd64 unless given. */
  readonly platform?: Platform;
}

/** Two entries naming one repo:tag must agree on what it points at. */
function checkUniqueTags(label: string, images: readonly ArchiveImage[]): ArchiveImage[] {
  const byName = new Map<string, ArchiveImage>();
  for (const image of images) {
    const name = `${image.repository}:${image.tag}`;
    const seen = byName.get(name);
    const digest = (i: ArchiveImage): string | undefined => i.manifests.at(-1)?.digest;
    if (seen !== undefined && digest(seen) !== digest(image)) {
      throw archiveError(label, `names ${name} twice, for different manifests`);
    }
    byName.set(name, image);
  }
  return [...byName.values()];
}

/** An OCI layout wins over manifest.json: Docker >= 25 writes both, and only the layout has the real manifests. */
function readContents(source: ArchiveSource, platform: Platform): Promise<ArchiveContents> {
  if (source.has("index.json") && source.has("oci-layout")) return readOciLayout(source, platform);
  if (source.has("manifest.json")) return readDockerSave(source);
  throw archiveError(
    source.label,
    "is neither a docker save archive (manifest.json) nor an OCI image layout (oci-layout, index.json)",
  );
}

/**
 * Reads an image archive's index (not its layers): legacy docker save,
 * docker save from Docker >= 25 (OCI layout + manifest.json), or a plain
 * OCI image layout; as tar, gzip-compressed tar (decompressed to a scratch
 * file under options.tmpDir, removed by close()) or zstd-compressed tar
 * (through options.exec). The format is decided by content, not file name.
 * Throws GroundcrewError: IMAGE_ARCHIVE_INVALID (not a tar, unknown
 * format, missing blob, unsafe entry name, damaged JSON),
 * IMAGE_REFERENCE_INVALID (bad or missing repo/tag), HOST_IO_FAILED,
 * HOST_COMMAND_FAILED (zstd absent); each message names the archive and entry.
 */
export async function openImageArchive(file: string, options: OpenArchiveOptions): Promise<ImageArchive> {
  const plain = await plainTarOf(file, options);
  try {
    const source = new ArchiveSource(file, plain.tarPath, await indexTar(plain.tarPath, file));
    const contents = await readContents(source, options.platform ?? DEFAULT_PLATFORM);
    const images = checkUniqueTags(file, contents.images);
    let closed = false;
    return {
      file,
      images,
      openBlob(digest) {
        const entry = contents.blobs.get(digest);
        if (closed) throw archiveError(file, `is closed; cannot read blob ${digest}`);
        if (entry === undefined) throw archiveError(file, `has no blob ${digest}`);
        return source.stream(entry);
      },
      async close() {
        closed = true;
        await plain.cleanup();
      },
    };
  } catch (error) {
    await plain.cleanup();
    throw error;
  }
}
