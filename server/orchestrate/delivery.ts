import { casPath } from "../../shared/artifacts.js";
import type { ArtifactSource } from "../../shared/depot-config.js";
import { formatBytes } from "../../shared/format-bytes.js";
import { hostServerName } from "../../shared/host-identity.js";
import type { PlanStep } from "../../shared/protocol.js";
import { artifactRef } from "../bundle/manifest.js";
import { artifactsFor } from "../bundle/needs.js";
import type { BundleArtifact, VerifiedBundle } from "../bundle/verified-bundle.js";
import { AGENT_TLS_FILES } from "../deploy/install-agent.js";
import { DEPOT_PORT } from "../deploy/layout.js";
import type { InventoryHost } from "../inventory/types.js";
import type { ArtifactLookup } from "../ws/artifact-route.js";

/**
 * Who gets which artifact, and from where. The provisioner sends every
 * artifact any host needs once, to the depot; each host's plan starts with an
 * `artifacts.fetch` step that takes what it needs from the depot, falling back
 * to the provisioner itself when there is no depot or it does not answer.
 */
export interface Delivery {
  readonly depot?: InventoryHost;
  /** What the provisioner uploads to the depot: every artifact some host needs, once. */
  readonly depotStock: readonly BundleArtifact[];
  /** By host name: the artifacts that host needs. */
  readonly needs: ReadonlyMap<string, readonly BundleArtifact[]>;
}

/** `archOf(host)` is the host's architecture from its facts. */
export function planDelivery(
  hosts: readonly InventoryHost[],
  archOf: (host: InventoryHost) => string,
  bundle: VerifiedBundle | undefined,
): Delivery {
  const needs = new Map(
    hosts.map((host) => [
      host.name,
      bundle === undefined ? [] : artifactsFor(host, archOf(host), bundle.artifacts),
    ]),
  );
  const depot = hosts.find((host) => host.depot);
  const wanted = new Set([...needs.values()].flat().map((artifact) => artifact.entry.path));
  const depotStock =
    depot === undefined
      ? []
      : (bundle?.artifacts ?? []).filter((artifact) => wanted.has(artifact.entry.path));
  return { ...(depot === undefined ? {} : { depot }), depotStock, needs };
}

/**
 * Where `host` fetches from, in order: the depot (unless it is the depot:
 * the provisioner fills its store directly), then the provisioner.
 */
export function sourcesFor(
  host: InventoryHost,
  delivery: Delivery,
  provisionerUrl: string,
): ArtifactSource[] {
  const provisioner: ArtifactSource = { name: "the provisioner", url: provisionerUrl };
  const depot = delivery.depot;
  if (depot === undefined || depot.name === host.name) return [provisioner];
  return [
    {
      name: `depot ${depot.name}`,
      url: `https://${urlHost(depot.address)}:${DEPOT_PORT}`,
      serverName: hostServerName(depot.name),
    },
    provisioner,
  ];
}

/** The plan's first step for `host`, or undefined when it needs no artifact. */
export function fetchStep(
  host: InventoryHost,
  delivery: Delivery,
  provisionerUrl: string,
): PlanStep | undefined {
  const artifacts = delivery.needs.get(host.name) ?? [];
  if (artifacts.length === 0) return undefined;
  const bytes = artifacts.reduce((sum, artifact) => sum + artifact.entry.size, 0);
  return {
    id: "artifacts.fetch",
    title: `Fetch ${artifacts.length} artifact(s) (${formatBytes(bytes)})`,
    params: {
      artifacts: artifacts.map((artifact) => artifactRef(artifact.entry)),
      sources: sourcesFor(host, delivery, provisionerUrl),
      tls: { ...AGENT_TLS_FILES },
    },
  };
}

/** What the provisioner's fallback route may serve: only what each host's plan names. */
export function artifactLookup(delivery: Delivery): ArtifactLookup {
  const byHost = new Map(
    [...delivery.needs].map(([host, artifacts]) => [
      host,
      new Map(artifacts.map((artifact) => [artifact.entry.sha256, artifact])),
    ]),
  );
  return (host, sha256) => {
    const artifact = byHost.get(host)?.get(sha256);
    if (artifact?.file === undefined) return undefined;
    return { file: artifact.file, size: artifact.entry.size };
  };
}

/** Where an artifact lands on a host (for messages and tests). */
export function hostArtifactPath(artifact: BundleArtifact): string {
  return casPath(artifact.entry.sha256);
}

function urlHost(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}
