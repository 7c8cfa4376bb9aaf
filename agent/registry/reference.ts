import { GroundcrewError } from "../../shared/errors.js";

/** OCI distribution's repository name grammar (path components only, no host). */
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** OCI distribution's tag grammar. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** distribution refuses longer repository names. */
const MAX_REPOSITORY_LENGTH = 255;

/** An image's place in a registry: the upstream path without the registry host, and its tag. */
export interface RepoTag {
  readonly repository: string;
  readonly tag: string;
}

export function isValidRepository(repository: string): boolean {
  return repository.length <= MAX_REPOSITORY_LENGTH && REPOSITORY.test(repository);
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * Parses an image reference as Docker normalizes it and drops the registry
 * host, keeping the upstream path (what a k3s mirror of that host expects):
 *   "docker.io/library/busybox:1.35" and "busybox:1.35" -> library/busybox 1.35
 *   "registry.k8s.io/pause:3.9" -> pause 3.9;  "ghcr.io/org/app:v1" -> org/app v1
 *   "localhost:5000/app" -> app latest (no tag means "latest", as in Docker)
 * The first path component is a host when it holds "." or ":", is
 * "localhost", or has upper case (Docker's rule). References by digest are
 * refused: seeding needs a tag.
 * Throws GroundcrewError IMAGE_REFERENCE_INVALID naming `where` (archive and entry).
 */
export function parseImageReference(reference: string, where: string): RepoTag {
  const invalid = (why: string): GroundcrewError =>
    new GroundcrewError(
      "IMAGE_REFERENCE_INVALID",
      `${where}: image name ${JSON.stringify(reference)} ${why}`,
      {
        context: { reference: reference.slice(0, 300) },
      },
    );
  if (reference.length === 0 || reference.length > 512) throw invalid("is empty or too long");
  if (reference.includes("@")) throw invalid("is a reference by digest; a tag is needed");
  const slash = reference.indexOf("/");
  const first = slash === -1 ? "" : reference.slice(0, slash);
  const hasHost =
    slash !== -1 &&
    (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase());
  const host = hasHost ? first : "docker.io";
  const rest = hasHost ? reference.slice(slash + 1) : reference;
  const colon = rest.lastIndexOf(":");
  let repository = colon === -1 ? rest : rest.slice(0, colon);
  const tag = colon === -1 ? "latest" : rest.slice(colon + 1);
  if ((host === "docker.io" || host === "index.docker.io") && !repository.includes("/")) {
    repository = `library/${repository}`;
  }
  if (!isValidRepository(repository)) {
    throw invalid(`has a repository ${JSON.stringify(repository)} outside the OCI name grammar`);
  }
  if (!isValidTag(tag)) throw invalid(`has a tag ${JSON.stringify(tag)} outside the OCI tag grammar`);
  return { repository, tag };
}
