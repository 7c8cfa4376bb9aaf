import { GroundcrewError } from "../../shared/errors.js";
import { DigestMismatchError, digestVerifier } from "./digest-verifier.js";
import type { ArchiveBlob, ImageArchive } from "./image-archive.js";
import { header, registryRefusal } from "./registry-errors.js";
import { send, shownUrl, type RegistryTarget } from "./registry-http.js";

export type BlobOutcome = "skipped" | "mounted" | "pushed";

export interface BlobPush {
  readonly target: RegistryTarget;
  /** The target's validated base URL. */
  readonly base: URL;
  readonly archive: ImageArchive;
  readonly repository: string;
  readonly blob: ArchiveBlob;
  /** Another repository of this registry known to hold the blob: tried as a cross-repository mount. */
  readonly mountFrom?: string;
  /** Told each uploaded chunk's length. */
  readonly onBytes: (bytes: number) => void;
}

/** Blob PUTs may take long for big layers, but never forever: 10 minutes plus 1 s per MiB. */
function putDeadlineMs(size: number): number {
  return 600_000 + Math.ceil(size / 1024 / 1024) * 1000;
}

/**
 * The upload session's URL: Location resolved against the registry URL
 * (distribution may answer a relative one), kept as given otherwise (its
 * `_state` query must not be rebuilt). Another origin is refused.
 */
function sessionUrl(push: BlobPush, location: string | undefined, what: string): URL {
  if (location === undefined || location === "") {
    throw new GroundcrewError("REGISTRY_PUSH_FAILED", `${what}: HTTP 202 without a Location header`);
  }
  const url = new URL(location, push.base);
  if (url.origin !== push.base.origin) {
    throw new GroundcrewError(
      "REGISTRY_PUSH_FAILED",
      `${what}: the upload Location points at another server (${url.origin})`,
    );
  }
  return url;
}

/** `url` with `digest=` appended: "&digest=" when Location already carries a query (distribution's `?_state=`). */
export function withDigest(url: URL, digest: string): URL {
  const result = new URL(url.href);
  const param = `digest=${encodeURIComponent(digest)}`;
  result.search = result.search === "" ? `?${param}` : `${result.search}&${param}`;
  return result;
}

/** Best effort: an abandoned session would otherwise linger until distribution purges it. */
async function cancel(push: BlobPush, url: URL): Promise<void> {
  await send(push.target, { method: "DELETE", url, deadlineMs: 15_000 }).catch(() => undefined);
}

/**
 * Makes `blob` present in `repository`: HEAD 200 skips it; else a
 * cross-repository mount when `mountFrom` is given (201), else POST (202 +
 * Location) then a monolithic PUT of the bytes streamed from the archive
 * while hashing them. Throws IMAGE_ARCHIVE_INVALID naming the archive and
 * blob when the bytes do not match the digest (the session is deleted
 * before the last bytes are sent); HOST_IO_FAILED when the archive cannot
 * be read; REGISTRY_PUSH_FAILED with the status and
 * the registry's code for a refusal; REGISTRY_UNREACHABLE for network failures.
 */
export async function ensureBlob(push: BlobPush): Promise<BlobOutcome> {
  const { repository, blob, base } = push;
  const blobUrl = new URL(`/v2/${repository}/blobs/${blob.digest}`, base);
  const head = await send(push.target, { method: "HEAD", url: blobUrl });
  if (head.status === 200) return "skipped";
  if (head.status !== 404) throw registryRefusal(`HEAD blob ${repository}@${blob.digest}`, head);

  const start = new URL(`/v2/${repository}/blobs/uploads/`, base);
  if (push.mountFrom !== undefined && push.mountFrom !== repository) {
    start.search = `?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(push.mountFrom)}`;
  }
  const what = `upload of blob ${blob.digest} to ${repository}`;
  const post = await send(push.target, { method: "POST", url: start, body: new Uint8Array(0) });
  if (post.status === 201) return "mounted";
  if (post.status !== 202) throw registryRefusal(`POST ${what}`, post);
  const session = sessionUrl(push, header(post, "location"), `POST ${what}`);

  const source = push.archive.openBlob(blob.digest);
  const verifier = digestVerifier(blob.digest, blob.size, push.onBytes);
  source.on("error", (error: Error) => verifier.destroy(error));
  source.pipe(verifier);
  let answer;
  try {
    answer = await send(push.target, {
      method: "PUT",
      url: withDigest(session, blob.digest),
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(blob.size) },
      body: verifier,
      deadlineMs: putDeadlineMs(blob.size),
    });
  } catch (error) {
    await cancel(push, session);
    if (error instanceof DigestMismatchError) {
      throw new GroundcrewError(
        "IMAGE_ARCHIVE_INVALID",
        `${push.archive.file}: blob ${blob.digest} is damaged: ${error.message}; its upload to ${repository} was cancelled`,
        { context: { archive: push.archive.file, blob: blob.digest } },
      );
    }
    if (error instanceof GroundcrewError) throw error;
    throw new GroundcrewError("HOST_IO_FAILED", `${push.archive.file}: reading blob ${blob.digest} failed`, {
      cause: error,
      context: { archive: push.archive.file, blob: blob.digest },
    });
  }
  if (answer.status !== 201) {
    await cancel(push, session);
    throw registryRefusal(`PUT ${what} (${shownUrl(session)})`, answer);
  }
  const stored = header(answer, "docker-content-digest");
  if (stored !== undefined && stored !== blob.digest) {
    throw new GroundcrewError("REGISTRY_PUSH_FAILED", `PUT ${what}: the registry stored it as ${stored}`);
  }
  return "pushed";
}
