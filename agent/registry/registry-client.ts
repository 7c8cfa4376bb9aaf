import { GroundcrewError } from "../../shared/errors.js";
import { ensureBlob } from "./blob-upload.js";
import type { ArchiveBlob, ImageArchive } from "./image-archive.js";
import { manifestDigestAt, putManifest } from "./manifest-push.js";
import { digestSchema } from "./oci-types.js";
import { isValidRepository, isValidTag } from "./reference.js";
import { header } from "./registry-errors.js";
import { baseUrl, send, type RegistryTarget } from "./registry-http.js";

export type { RegistryTarget } from "./registry-http.js";

export interface SeedResult {
  /** "library/busybox:1.35", in archive order. */
  readonly images: readonly string[];
  /** Blobs uploaded (bytes sent). */
  readonly blobsPushed: number;
  /** Blobs already in their repository. */
  readonly blobsSkipped: number;
  /** Blobs linked from another repository of this archive by cross-repository mount (no bytes sent). */
  readonly blobsMounted: number;
  readonly manifestsPushed: number;
  readonly manifestsSkipped: number;
  readonly bytesPushed: number;
}

export interface SeedProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly message: string;
}

/** Chunk progress is reported at most once per this many bytes (plus at each blob's start and end). */
const PROGRESS_EVERY_BYTES = 8 * 1024 * 1024;

/** Everything used in a URL path is checked before the first request: names, tags, digests. */
function checkArchive(archive: ImageArchive): void {
  for (const image of archive.images) {
    const digests = [...image.blobs, ...image.manifests].map((item) => item.digest);
    if (
      !isValidRepository(image.repository) ||
      !isValidTag(image.tag) ||
      image.manifests.length === 0 ||
      digests.some((digest) => !digestSchema.safeParse(digest).success)
    ) {
      throw new GroundcrewError(
        "IMAGE_REFERENCE_INVALID",
        `${archive.file}: image ${JSON.stringify(`${image.repository}:${image.tag}`)} has an invalid name, tag or digest, or no manifest`,
      );
    }
  }
}

function short(digest: string): string {
  return digest.slice("sha256:".length, "sha256:".length + 12);
}

/**
 * Seeds `target` from `archive` (R3): first every blob of every image (so a
 * damaged blob stops the run before any tag moves), each once per
 * repository; then each image's manifests, children by digest, the last
 * under the tag. Blobs and manifests already present are skipped, so a
 * second run pushes nothing. Throws IMAGE_ARCHIVE_INVALID (damaged blob),
 * IMAGE_REFERENCE_INVALID, REGISTRY_PUSH_FAILED (status and registry code),
 * REGISTRY_UNREACHABLE. Never logs; `onProgress` gets byte counts and
 * messages free of secrets.
 */
export async function seedArchive(
  target: RegistryTarget,
  archive: ImageArchive,
  onProgress?: (progress: SeedProgress) => void,
): Promise<SeedResult> {
  const base = baseUrl(target);
  checkArchive(archive);
  const uploads: { repository: string; blob: ArchiveBlob }[] = [];
  const planned = new Set<string>();
  for (const image of archive.images) {
    for (const blob of image.blobs) {
      const key = `${image.repository}@${blob.digest}`;
      if (!planned.has(key)) uploads.push({ repository: image.repository, blob });
      planned.add(key);
    }
  }
  const bytesTotal = uploads.reduce((sum, upload) => sum + upload.blob.size, 0);
  let bytesDone = 0;
  let reportedAt = 0;
  const report = (message: string): void => {
    reportedAt = bytesDone;
    onProgress?.({ bytesDone, bytesTotal, message });
  };
  const counts = {
    blobsPushed: 0,
    blobsSkipped: 0,
    blobsMounted: 0,
    manifestsPushed: 0,
    manifestsSkipped: 0,
    bytesPushed: 0,
  };
  /** A repository known to hold each blob, for cross-repository mounts. */
  const holders = new Map<string, string>();

  for (const { repository, blob } of uploads) {
    const name = `${repository} blob ${short(blob.digest)} (${blob.size} bytes)`;
    const startedAt = bytesDone;
    const outcome = await ensureBlob({
      target,
      base,
      archive,
      repository,
      blob,
      mountFrom: holders.get(blob.digest),
      onBytes: (bytes) => {
        bytesDone += bytes;
        if (bytesDone - reportedAt >= PROGRESS_EVERY_BYTES) report(`uploading ${name}`);
      },
    });
    bytesDone = startedAt + blob.size;
    holders.set(blob.digest, repository);
    if (outcome === "pushed") {
      counts.blobsPushed++;
      counts.bytesPushed += blob.size;
    } else if (outcome === "mounted") counts.blobsMounted++;
    else counts.blobsSkipped++;
    report(
      `${outcome === "pushed" ? "uploaded" : outcome === "mounted" ? "mounted" : "already there:"} ${name}`,
    );
  }

  const done = new Set<string>();
  for (const image of archive.images) {
    for (const [position, manifest] of image.manifests.entries()) {
      const reference = position === image.manifests.length - 1 ? image.tag : manifest.digest;
      const key = `${image.repository}:${reference}@${manifest.digest}`;
      if (done.has(key)) continue;
      done.add(key);
      const present = await manifestDigestAt(target, base, image.repository, reference);
      if (present === manifest.digest) {
        counts.manifestsSkipped++;
        continue;
      }
      await putManifest(target, base, image.repository, reference, manifest);
      counts.manifestsPushed++;
      report(`pushed manifest ${image.repository}:${reference === image.tag ? reference : short(reference)}`);
    }
  }
  return { images: archive.images.map((image) => `${image.repository}:${image.tag}`), ...counts };
}

/**
 * Read-only: the images ("repo:tag") whose tag does not resolve, by HEAD
 * with the full Accept header, to the digest of the archive's tagged
 * manifest. Throws REGISTRY_UNREACHABLE when the registry cannot be reached
 * (the answer would be a guess), REGISTRY_PUSH_FAILED for unexpected statuses.
 */
export async function missingImages(target: RegistryTarget, archive: ImageArchive): Promise<string[]> {
  const base = baseUrl(target);
  checkArchive(archive);
  const missing: string[] = [];
  for (const image of archive.images) {
    const name = `${image.repository}:${image.tag}`;
    const wanted = image.manifests.at(-1)?.digest;
    const present = await manifestDigestAt(target, base, image.repository, image.tag);
    if (present !== wanted && !missing.includes(name)) missing.push(name);
  }
  return missing;
}

/** Whether GET /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0. False on any network, TLS or HTTP failure; throws only for an invalid target URL. */
export async function registryAnswers(target: RegistryTarget): Promise<boolean> {
  const base = baseUrl(target);
  try {
    const answer = await send(target, {
      method: "GET",
      url: new URL("/v2/", base),
      deadlineMs: 10_000,
      idleMs: 10_000,
    });
    return answer.status === 200 && header(answer, "docker-distribution-api-version") === "registry/2.0";
  } catch {
    return false;
  }
}
