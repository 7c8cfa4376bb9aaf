import { isComplete, type ManifestChild, type ManifestNode } from "./manifest-tree.js";
import { ANNOTATIONS, type Platform } from "./oci-types.js";
import { archiveError } from "./tar-index.js";

/** The platform seeded from a partial multi-platform index unless the caller names another. */
export const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

/** Attestation manifests (buildkit provenance/SBOM) carry platform unknown/unknown. */
export function isAttestation(child: ManifestChild): boolean {
  const { platform, annotations } = child.descriptor;
  return (
    (platform?.os === "unknown" && platform.architecture === "unknown") ||
    annotations?.[ANNOTATIONS.dockerReferenceType] === "attestation-manifest"
  );
}

function platformName(child: ManifestChild): string {
  const platform = child.descriptor.platform;
  if (platform === undefined) return "(no platform)";
  return [platform.os, platform.architecture, platform.variant]
    .filter((part) => part !== undefined)
    .join("/");
}

function matches(child: ManifestChild, wanted: Platform): boolean {
  const platform = child.descriptor.platform;
  return (
    platform !== undefined &&
    platform.os === wanted.os &&
    platform.architecture === wanted.architecture &&
    (wanted.variant === undefined || platform.variant === wanted.variant)
  );
}

/** Image manifests under an index (nested indexes flattened), attestations left out. */
function platformManifests(node: ManifestNode): ManifestChild[] {
  if (node.kind === "manifest") return [];
  return node.children.flatMap((child) => {
    if (isAttestation(child)) return [];
    if (child.node?.kind === "index") return platformManifests(child.node);
    return [child];
  });
}

/**
 * For an index some of whose manifests or blobs the layout lacks (pitfall:
 * distribution refuses an index whose platform manifests are not all
 * there), the one platform manifest to push under the tag instead: the
 * `wanted` platform when present, else the only platform present.
 * Attestation manifests are never chosen. Throws IMAGE_ARCHIVE_INVALID
 * naming the archive and `entry` when no single manifest qualifies, or
 * when the chosen one lacks a config or layer blob.
 */
export function choosePlatform(
  node: ManifestNode,
  wanted: Platform,
  label: string,
  entry: string,
): ManifestNode {
  const candidates = platformManifests(node);
  const present = candidates.filter((child) => child.node !== undefined);
  const chosen =
    present.find((child) => matches(child, wanted)) ?? (present.length === 1 ? present[0] : undefined);
  const wantedName = [wanted.os, wanted.architecture, wanted.variant]
    .filter((p) => p !== undefined)
    .join("/");
  if (chosen?.node === undefined) {
    const listed = candidates.map(
      (child) => `${platformName(child)}${child.node === undefined ? " (absent)" : ""}`,
    );
    throw archiveError(
      label,
      `is a partial multi-platform index without a ${wantedName} manifest or a single platform present (has: ${listed.join(", ") || "none"})`,
      entry,
    );
  }
  if (!isComplete(chosen.node)) {
    const missing = chosen.node.kind === "manifest" ? chosen.node.missingBlob : undefined;
    throw archiveError(
      label,
      `lacks blob ${missing ?? "(unknown)"} of its ${platformName(chosen)} manifest ${chosen.descriptor.digest}`,
      entry,
    );
  }
  return chosen.node;
}
