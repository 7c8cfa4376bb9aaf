import { GroundcrewError } from "../../shared/errors.js";

/** A validated image reference, in the forms each archive format and registry wants. */
export interface ImageReference {
  /** "docker.io", "registry.local:5000". */
  readonly domain: string;
  /** The repository path under the domain: "library/busybox". */
  readonly path: string;
  readonly tag: string;
  /** domain/path: "docker.io/library/busybox". */
  readonly name: string;
  /** name:tag, what containerd calls the image: "docker.io/library/busybox:1.35". */
  readonly canonical: string;
  /** Docker's short form, which `docker save` writes in RepoTags: "busybox:1.35". */
  readonly familiar: string;
  /** The familiar form without the tag: "busybox". */
  readonly familiarName: string;
}

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
// The OCI distribution grammar (distribution/reference), as in step-catalog R3.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

/**
 * Parses `reference` ("[domain/]path:tag") the way Docker normalizes it: the
 * first component is a domain only when it holds "." or ":", is "localhost"
 * or has capitals; otherwise the domain is docker.io, and a one-component
 * docker.io path gets "library/". A tag is required (an archive is named by
 * it) and a digest is refused (the archive's digests are computed, not
 * chosen). Throws IMAGE_REFERENCE_INVALID naming the reference and the rule
 * it breaks.
 */
export function parseImageReference(reference: string): ImageReference {
  const invalid = (why: string): GroundcrewError =>
    new GroundcrewError("IMAGE_REFERENCE_INVALID", `image reference ${JSON.stringify(reference)}: ${why}`, {
      context: { reference },
    });
  if (reference.includes("@")) {
    throw invalid("a digest cannot be given: an image archive is named by repository and tag");
  }
  const lastSlash = reference.lastIndexOf("/");
  const colon = reference.lastIndexOf(":");
  if (colon <= lastSlash) throw invalid('a tag is required ("name:tag")');
  const tag = reference.slice(colon + 1);
  if (!TAG.test(tag)) {
    throw invalid(`the tag ${JSON.stringify(tag)} does not match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}`);
  }
  const components = reference.slice(0, colon).split("/");
  const first = components[0] ?? "";
  const hasDomain =
    components.length > 1 &&
    (first.includes(".") || first.includes(":") || first === "localhost" || /[A-Z]/.test(first));
  let domain = hasDomain ? first : DEFAULT_DOMAIN;
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (!DOMAIN.test(domain)) throw invalid(`${JSON.stringify(domain)} is not a valid registry domain`);
  const pathComponents = hasDomain ? components.slice(1) : components;
  for (const component of pathComponents) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(
        `the path component ${JSON.stringify(component)} must be lowercase letters and digits, ` +
          `joined by ".", "_", "__" or dashes`,
      );
    }
  }
  const path =
    domain === DEFAULT_DOMAIN && pathComponents.length === 1
      ? `${OFFICIAL_PREFIX}${pathComponents.join("/")}`
      : pathComponents.join("/");
  const name = `${domain}/${path}`;
  if (name.length > MAX_NAME_LENGTH) throw invalid(`the name is longer than ${MAX_NAME_LENGTH} characters`);
  const familiarName = familiarOf(domain, path);
  return {
    domain,
    path,
    tag,
    name,
    canonical: `${name}:${tag}`,
    familiar: `${familiarName}:${tag}`,
    familiarName,
  };
}

function familiarOf(domain: string, path: string): string {
  if (domain !== DEFAULT_DOMAIN) return `${domain}/${path}`;
  const official = path.startsWith(OFFICIAL_PREFIX) && !path.slice(OFFICIAL_PREFIX.length).includes("/");
  return official ? path.slice(OFFICIAL_PREFIX.length) : path;
}
