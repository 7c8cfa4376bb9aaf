import { isIP } from "node:net";
import type { PlanStep } from "../../shared/protocol.js";
import { artifactRef } from "../bundle/manifest.js";
import type { BundleArtifact } from "../bundle/verified-bundle.js";
import { AGENT_TLS_FILES } from "../deploy/install-agent.js";
import { K3S_TOKEN_FILE, REGISTRY_TLS_FILES } from "../deploy/layout.js";
import type { Inventory, InventoryHost } from "../inventory/types.js";
import type { Delivery } from "../orchestrate/delivery.js";
import { requiredPorts } from "../preflight/requirements.js";
import { dockerStep } from "./docker-plan.js";
import { gpuSteps } from "./gpu-plan.js";
import type { ClusterManifests } from "./manifests/cluster-manifests.js";
import { manifestsStep } from "./manifests-plan.js";
import { labelArgs, nodeLabels } from "./node-labels.js";

export const K3S_API_PORT = 6443;

/** Who plays which part in the cluster: the first server seeds it, the others join it. */
export interface ClusterLayout {
  readonly firstServer?: InventoryHost;
  readonly servers: readonly InventoryHost[];
  /** More than one server: embedded etcd, the first with cluster-init. */
  readonly ha: boolean;
  readonly depot?: InventoryHost;
  /** The depot registry as clients name it ("10.0.0.5:5000"), when the depot runs one. */
  readonly registryEndpoint?: string;
  readonly registryTls: boolean;
}

/** The first server is the depot when the depot is a server, else the first server in the inventory (as `phases` orders them). */
export function clusterLayout(inventory: Inventory, delivery: Delivery): ClusterLayout {
  const servers = inventory.hosts.filter((host) => host.role === "server");
  const depot = delivery.depot;
  const firstServer = servers.find((host) => host.depot) ?? servers.at(0);
  const registryEndpoint =
    depot !== undefined && registryBinary(delivery.needs.get(depot.name) ?? []) !== undefined
      ? `${hostPort(depot.address)}:${inventory.cluster.registry.port}`
      : undefined;
  return {
    ...(firstServer === undefined ? {} : { firstServer }),
    servers,
    ha: servers.length > 1,
    ...(depot === undefined ? {} : { depot }),
    ...(registryEndpoint === undefined ? {} : { registryEndpoint }),
    registryTls: inventory.cluster.registry.tls,
  };
}

function hostPort(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

/** The registry binary among the depot's artifacts: distribution's tarball, or Debian's docker-registry package. */
export function registryBinary(
  artifacts: readonly BundleArtifact[],
): { artifact: BundleArtifact; from: "deb" | "tarball" } | undefined {
  const tarball = artifacts.find((artifact) => artifact.entry.kind === "registry");
  if (tarball !== undefined) return { artifact: tarball, from: "tarball" };
  const deb = artifacts.find(
    (artifact) => artifact.entry.kind === "deb" && artifact.entry.component === "registry",
  );
  return deb === undefined ? undefined : { artifact: deb, from: "deb" };
}

function ofKind(
  artifacts: readonly BundleArtifact[],
  kind: BundleArtifact["entry"]["kind"],
): BundleArtifact[] {
  return artifacts.filter((artifact) => artifact.entry.kind === kind);
}

/** Firewall openings for `host`: its own ports, and all traffic from the pod and service networks. */
function firewallRules(host: InventoryHost, inventory: Inventory) {
  const ports = requiredPorts(host.role, host.depot, inventory.cluster.registry.port).map((need) => ({
    port: String(need.port),
    protocol: need.protocol,
  }));
  const networks = [inventory.cluster.clusterCidr, inventory.cluster.serviceCidr].map((source) => ({
    port: "any",
    protocol: "tcp" as const,
    source,
  }));
  return [...ports, ...(host.depot ? [{ port: "7444", protocol: "tcp" as const }] : []), ...networks];
}

/**
 * The install steps of `host` after host preparation, in the catalog's
 * order: firewall ports and a default route; on the depot the registry and
 * its seeding; Docker where asked; the GPU stack on GPU hosts (gpu-plan.ts);
 * k3s. A component whose artifacts the
 * bundle lacks is left out and named in `skipped`. `images` are the
 * references of the bundle's image archives (for Docker's verification).
 * With `manifests`, servers place them (k3s.manifests) after k3s.install.
 */
export function installSteps(
  host: InventoryHost,
  inventory: Inventory,
  delivery: Delivery,
  layout: ClusterLayout,
  images: readonly string[],
  manifests?: ClusterManifests,
): { steps: PlanStep[]; skipped: string[] } {
  const artifacts = delivery.needs.get(host.name) ?? [];
  const steps: PlanStep[] = [
    {
      id: "host.firewall",
      title: "Open the cluster's ports in the host firewall, if one is active",
      params: { rules: firewallRules(host, inventory) },
    },
    {
      id: "host.default-route",
      title: "Make sure there is a default route (k3s needs one)",
      params: host.vars.iface === undefined ? {} : { iface: host.vars.iface },
    },
  ];
  const skipped: string[] = [];
  const caFile = layout.registryTls ? AGENT_TLS_FILES.ca : undefined;
  const port = inventory.cluster.registry.port;
  if (host.depot) {
    const binary = registryBinary(artifacts);
    if (binary === undefined) skipped.push("the depot registry (the bundle has no registry binary)");
    else {
      steps.push({
        id: "registry.install",
        title: `Run the depot registry on port ${port}`,
        params: {
          binary: { artifact: artifactRef(binary.artifact.entry), from: binary.from },
          port,
          ...(layout.registryTls ? { tls: { ...REGISTRY_TLS_FILES, ca: AGENT_TLS_FILES.ca } } : {}),
        },
      });
      const archives = ofKind(artifacts, "image-archive");
      if (archives.length > 0) {
        steps.push({
          id: "registry.seed",
          title: `Seed the depot registry from ${archives.length} image archive(s)`,
          params: {
            archives: archives.map((a) => artifactRef(a.entry)),
            port,
            ...(caFile === undefined ? {} : { caFile }),
          },
        });
      }
    }
  }
  if (host.vars.installDocker) {
    const docker = dockerStep({
      artifacts,
      ...(layout.registryEndpoint === undefined ? {} : { registryEndpoint: layout.registryEndpoint }),
      ...(caFile === undefined ? {} : { caFile }),
      images,
    });
    if (typeof docker === "string") skipped.push(docker);
    else steps.push(docker);
  }
  const gpu = gpuSteps(host, artifacts);
  steps.push(...gpu.steps);
  skipped.push(...gpu.skipped);
  const k3s = k3sStep(host, inventory, artifacts, layout, caFile);
  if (k3s === undefined) skipped.push("k3s (the bundle has no k3s binary for this host)");
  else steps.push(k3s);
  // k3s's auto-deploy manifests: on every server (k3s does not sync them), once its k3s runs.
  if (k3s !== undefined && host.role === "server" && manifests !== undefined)
    steps.push(manifestsStep(manifests));
  return { steps, skipped };
}

function k3sStep(
  host: InventoryHost,
  inventory: Inventory,
  artifacts: readonly BundleArtifact[],
  layout: ClusterLayout,
  caFile: string | undefined,
): PlanStep | undefined {
  const binary = ofKind(artifacts, "k3s-binary")[0];
  const first = layout.firstServer;
  if (binary === undefined || first === undefined) return undefined;
  const role = host.role === "server" ? "server" : "agent";
  const seed = host.name === first.name;
  const joinUrl = `https://${hostPort(first.address)}:${K3S_API_PORT}`;
  const serverKeys =
    role === "server"
      ? {
          "tls-san": [...new Set([first.address, host.address])],
          "cluster-cidr": inventory.cluster.clusterCidr,
          "service-cidr": inventory.cluster.serviceCidr,
          "write-kubeconfig-mode": "0600",
          ...(seed && layout.ha ? { "cluster-init": true } : {}),
        }
      : {};
  const config = {
    "node-name": host.name,
    ...(isIP(host.address) === 0 ? {} : { "node-ip": host.address }),
    ...(host.vars.iface === undefined ? {} : { "flannel-iface": host.vars.iface }),
    "node-label": labelArgs(nodeLabels(host).labels),
    "node-taint": [...host.vars.taints],
    ...(seed ? {} : { server: joinUrl }),
    ...serverKeys,
    ...(layout.registryEndpoint === undefined ? {} : { "disable-default-registry-endpoint": true }),
  };
  const what = seed
    ? layout.ha
      ? "first server, cluster-init"
      : "server"
    : role === "server"
      ? "joining server"
      : "agent";
  return {
    id: "k3s.install",
    title: `Install k3s (${what})`,
    params: {
      role,
      binary: artifactRef(binary.entry),
      images: ofKind(artifacts, "k3s-images").map((a) => artifactRef(a.entry)),
      config,
      tokenFile: K3S_TOKEN_FILE,
      ...(layout.registryEndpoint === undefined
        ? {}
        : {
            registry: {
              endpoint: layout.registryEndpoint,
              mirrors: [...inventory.cluster.registry.mirrors],
              ...(caFile === undefined ? {} : { caFile }),
            },
          }),
    },
  };
}

/** Whether `host`'s plan installs k3s (and so needs the join token on disk). */
export function plansK3s(steps: readonly PlanStep[]): boolean {
  return steps.some((step) => step.id === "k3s.install");
}
