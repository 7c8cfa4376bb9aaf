import { GroundcrewError } from "../../shared/errors.js";
import type { ArchiveManifest } from "./image-archive.js";
import { MANIFEST_ACCEPT } from "./oci-types.js";
import { header, registryRefusal } from "./registry-errors.js";
import { send, type RegistryTarget } from "./registry-http.js";

function manifestUrl(base: URL, repository: string, reference: string): URL {
  return new URL(`/v2/${repository}/manifests/${reference}`, base);
}

/**
 * The digest `repository:reference` (a tag or a digest) resolves to, by
 * HEAD with the full Accept header (without the OCI types distribution
 * answers 404 for OCI content); undefined when the registry does not have
 * it (404) or names no Docker-Content-Digest. Read-only. Throws
 * REGISTRY_PUSH_FAILED for other statuses, REGISTRY_UNREACHABLE for network failures.
 */
export async function manifestDigestAt(
  target: RegistryTarget,
  base: URL,
  repository: string,
  reference: string,
): Promise<string | undefined> {
  const answer = await send(target, {
    method: "HEAD",
    url: manifestUrl(base, repository, reference),
    headers: { Accept: MANIFEST_ACCEPT },
  });
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw registryRefusal(`HEAD manifest ${repository}:${reference}`, answer);
  return header(answer, "docker-content-digest");
}

/**
 * PUTs the manifest's exact bytes under `reference` with Content-Type =
 * its mediaType, and checks that the registry's Docker-Content-Digest is
 * the manifest's digest. Throws REGISTRY_PUSH_FAILED with the status and
 * the registry's code (MANIFEST_BLOB_UNKNOWN when a blob or child is missing).
 */
export async function putManifest(
  target: RegistryTarget,
  base: URL,
  repository: string,
  reference: string,
  manifest: ArchiveManifest,
): Promise<void> {
  const what = `PUT manifest ${repository}:${reference} (${manifest.digest})`;
  const answer = await send(target, {
    method: "PUT",
    url: manifestUrl(base, repository, reference),
    headers: { "Content-Type": manifest.mediaType },
    body: manifest.bytes,
  });
  if (answer.status !== 201) throw registryRefusal(what, answer);
  const stored = header(answer, "docker-content-digest");
  if (stored !== manifest.digest) {
    throw new GroundcrewError(
      "REGISTRY_PUSH_FAILED",
      `${what}: the registry answered Docker-Content-Digest ${stored ?? "(none)"}, not ${manifest.digest}`,
      { context: { status: answer.status } },
    );
  }
}
