import type { PlanStep } from "../../shared/protocol.js";
import { artifactRef } from "../bundle/manifest.js";
import type { BundleArtifact } from "../bundle/verified-bundle.js";

export interface DockerPlanInput {
  /** The host's artifacts (already only those of its architecture, see bundle/needs.ts). */
  readonly artifacts: readonly BundleArtifact[];
  /** The depot registry as clients name it, when the depot runs one. */
  readonly registryEndpoint?: string;
  /** groundcrew's CA on the host when the registry serves TLS. */
  readonly caFile?: string;
  /** The references of the bundle's image archives; the first one verifies Docker through the depot. */
  readonly images: readonly string[];
}

/**
 * The Docker install step for a host with installDocker: from the bundle's
 * Docker .debs (docker.install) when it has any, else from Docker's static
 * tarball (docker.static). Resolves the reason for `skipped` when the bundle
 * has neither. Both steps take the same registry and verifyImage params.
 */
export function dockerStep(input: DockerPlanInput): PlanStep | string {
  const { artifacts, registryEndpoint: endpoint, caFile } = input;
  const verify = endpoint === undefined ? undefined : input.images[0];
  const common = {
    ...(endpoint === undefined
      ? {}
      : { registry: { endpoint, ...(caFile === undefined ? {} : { caFile }) } }),
    ...(verify === undefined || endpoint === undefined ? {} : { verifyImage: `${endpoint}/${verify}` }),
  };
  const debs = artifacts.filter((a) => a.entry.kind === "deb" && a.entry.component === "docker");
  if (debs.length > 0) {
    return {
      id: "docker.install",
      title: `Install Docker from the bundle (${debs.length} package(s))`,
      params: { debs: debs.map((a) => artifactRef(a.entry)), ...common },
    };
  }
  const tarball = artifacts.find((a) => a.entry.kind === "docker-static");
  if (tarball === undefined)
    return "Docker (the bundle has neither Docker .debs nor a static tarball for this host)";
  return {
    id: "docker.static",
    title: `Install Docker ${tarball.entry.version} from the bundle's static binaries`,
    params: { artifact: artifactRef(tarball.entry), ...common },
  };
}
