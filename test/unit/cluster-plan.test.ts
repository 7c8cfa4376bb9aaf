import { describe, expect, it } from "vitest";
import { ALL_STEPS } from "../../agent/steps/index.js";
import type { ArtifactKind } from "../../shared/artifacts.js";
import type { PlanStep } from "../../shared/protocol.js";
import type { DebComponent } from "../../server/bundle/manifest.js";
import type { BundleArtifact } from "../../server/bundle/verified-bundle.js";
import { clusterLayout, installSteps, plansK3s } from "../../server/cluster/install-plan.js";
import { AGENT_TLS_FILES } from "../../server/deploy/install-agent.js";
import { K3S_TOKEN_FILE, REGISTRY_TLS_FILES } from "../../server/deploy/layout.js";
import type { Inventory, InventoryHost } from "../../server/inventory/types.js";
import type { Delivery } from "../../server/orchestrate/delivery.js";
import { resetSteps } from "../../server/orchestrate/plan.js";
import { testHost } from "../support/inventory-host.js";

const host = testHost;

function inventory(
  hosts: InventoryHost[],
  registry: Partial<Inventory["cluster"]["registry"]> = {},
): Inventory {
  return {
    file: "/etc/groundcrew/inventory.yaml",
    format: "yaml",
    hosts,
    cluster: {
      token: { source: "generate" },
      clusterCidr: "10.42.0.0/16",
      serviceCidr: "10.43.0.0/16",
      httpPort: 80,
      httpsPort: 443,
      registry: { port: 5000, tls: true, mirrors: ["docker.io", "registry.k8s.io"], ...registry },
    },
    provisioner: {},
    addons: [],
    bundle: { trust: [] },
    storage: {},
  };
}

let serial = 0;
function artifact(kind: ArtifactKind, path: string, component?: DebComponent): BundleArtifact {
  serial += 1;
  return {
    entry: {
      path,
      kind,
      name: path.split("/").at(-1) ?? path,
      version: "1.0",
      arch: "amd64",
      size: 1000 + serial,
      sha256: serial.toString(16).padStart(64, "0"),
      ...(component === undefined ? {} : { component }),
    },
  };
}

const K3S_BIN = artifact("k3s-binary", "k3s/k3s");
const K3S_IMAGES = artifact("k3s-images", "k3s/k3s-airgap-images-amd64.tar.zst");
const REGISTRY_TGZ = artifact("registry", "registry/registry_3.0.0_linux_amd64.tar.gz");
const REGISTRY_DEB = artifact("deb", "debs/docker-registry_2.8.2_amd64.deb", "registry");
const APP_IMAGES = artifact("image-archive", "images/app.tar");
const DOCKER_DEB = artifact("deb", "debs/docker.io_20.10.24_amd64.deb", "docker");
const HOST_DEB = artifact("deb", "debs/jq_1.6_amd64.deb", "host");
const DOCKER_TGZ = artifact("docker-static", "docker/amd64/docker-29.8.1.tgz");

const ref = (a: BundleArtifact) => ({
  sha256: a.entry.sha256,
  size: a.entry.size,
  path: a.entry.path,
  kind: a.entry.kind,
});

function delivery(hosts: readonly InventoryHost[], needs: Record<string, BundleArtifact[]>): Delivery {
  const depot = hosts.find((h) => h.depot);
  return {
    ...(depot === undefined ? {} : { depot }),
    depotStock: [],
    needs: new Map(hosts.map((h) => [h.name, needs[h.name] ?? []])),
  };
}

/** Every planned step's params are what the agent's step of that id accepts. */
function expectAgentAccepts(steps: readonly PlanStep[]): void {
  for (const step of steps) {
    const agentStep = ALL_STEPS.find((candidate) => candidate.id === step.id);
    expect(agentStep, step.id).toBeDefined();
    expect(() => agentStep?.bind(step.params), step.id).not.toThrow();
  }
}

/** gpu-1 is a GPU host whose bundle lacks the container toolkit. */
const NO_TOOLKIT = "the NVIDIA container toolkit (the bundle has no nvidia-toolkit packages for this host)";

const byId = (steps: readonly PlanStep[], id: string) => steps.find((step) => step.id === id)?.params;

// An HA fleet: the depot is the second server, so it seeds the cluster; one GPU worker.
const s1 = host("master1", "server", { address: "10.0.0.5", vars: { iface: "eth1" } });
const s2 = host("master2", "server", {
  address: "10.0.0.6",
  depot: true,
  groups: ["control", "Bad Group!"],
  vars: { labels: { zone: "a", nodetype: "depot" }, taints: ["CriticalAddonsOnly=true:NoExecute"] },
});
const w1 = host("gpu-1", "worker", {
  address: "10.0.0.7",
  groups: ["gpu"],
  vars: { gpu: true, installDocker: true, taints: ["nvidia.com/gpu=true:NoSchedule"] },
});
const HA = inventory([s1, s2, w1]);
const HA_NEEDS = {
  master1: [K3S_BIN, K3S_IMAGES, HOST_DEB],
  master2: [K3S_BIN, K3S_IMAGES, REGISTRY_TGZ, APP_IMAGES],
  "gpu-1": [K3S_BIN, K3S_IMAGES, DOCKER_DEB],
};

describe("clusterLayout", () => {
  it("makes the depot the first server when it is one; HA with more than one server; the registry on the depot", () => {
    const layout = clusterLayout(HA, delivery(HA.hosts, HA_NEEDS));
    expect(layout.firstServer?.name).toBe("master2");
    expect(layout.servers.map((h) => h.name)).toEqual(["master1", "master2"]);
    expect(layout.ha).toBe(true);
    expect(layout.depot?.name).toBe("master2");
    expect(layout.registryEndpoint).toBe("10.0.0.6:5000");
    expect(layout.registryTls).toBe(true);
  });

  it("takes the first server when the depot is a worker; one server is not HA", () => {
    const depotWorker = host("w", "worker", { address: "10.0.0.9", depot: true });
    const inv = inventory([host("a", "worker"), s1, depotWorker], { port: 5443, tls: false });
    const layout = clusterLayout(inv, delivery(inv.hosts, { w: [REGISTRY_DEB] }));
    expect(layout.firstServer?.name).toBe("master1");
    expect(layout.ha).toBe(false);
    // Debian's docker-registry package counts as a registry binary.
    expect(layout.registryEndpoint).toBe("10.0.0.9:5443");
    expect(layout.registryTls).toBe(false);
  });

  it("has no registry endpoint without a registry binary or a depot, brackets IPv6, and no first server without servers", () => {
    const v6 = host("d", "server", { address: "fd00::5", depot: true });
    const inv6 = inventory([v6]);
    expect(clusterLayout(inv6, delivery(inv6.hosts, { d: [REGISTRY_TGZ] })).registryEndpoint).toBe(
      "[fd00::5]:5000",
    );
    expect(clusterLayout(inv6, delivery(inv6.hosts, { d: [K3S_BIN] }))).not.toHaveProperty(
      "registryEndpoint",
    );
    const workers = inventory([host("a", "worker"), host("b", "worker")]);
    const layout = clusterLayout(workers, delivery(workers.hosts, {}));
    expect(layout).toEqual({ servers: [], ha: false, registryTls: true });
  });
});

describe("installSteps", () => {
  const plan = delivery(HA.hosts, HA_NEEDS);
  const layout = clusterLayout(HA, plan);
  const images = ["library/busybox:1.36", "library/app:2"];

  it("the seeding depot server: firewall, default route, registry and its seeding, k3s with cluster-init", () => {
    const { steps, skipped } = installSteps(s2, HA, plan, layout, images);
    expect(skipped).toEqual([]);
    expect(steps.map((step) => step.id)).toEqual([
      "host.firewall",
      "host.default-route",
      "registry.install",
      "registry.seed",
      "k3s.install",
    ]);
    expectAgentAccepts(steps);
    expect(byId(steps, "host.firewall")).toEqual({
      rules: [
        { port: "6443", protocol: "tcp" },
        { port: "2379", protocol: "tcp" },
        { port: "2380", protocol: "tcp" },
        { port: "10250", protocol: "tcp" },
        { port: "8472", protocol: "udp" },
        { port: "5000", protocol: "tcp" },
        { port: "7444", protocol: "tcp" },
        { port: "any", protocol: "tcp", source: "10.42.0.0/16" },
        { port: "any", protocol: "tcp", source: "10.43.0.0/16" },
      ],
    });
    expect(byId(steps, "host.default-route")).toEqual({});
    expect(byId(steps, "registry.install")).toEqual({
      binary: { artifact: ref(REGISTRY_TGZ), from: "tarball" },
      port: 5000,
      tls: { cert: REGISTRY_TLS_FILES.cert, key: REGISTRY_TLS_FILES.key, ca: AGENT_TLS_FILES.ca },
    });
    expect(byId(steps, "registry.seed")).toEqual({
      archives: [ref(APP_IMAGES)],
      port: 5000,
      caFile: AGENT_TLS_FILES.ca,
    });
    expect(steps.find((step) => step.id === "k3s.install")?.title).toBe(
      "Install k3s (first server, cluster-init)",
    );
    expect(byId(steps, "k3s.install")).toEqual({
      role: "server",
      binary: ref(K3S_BIN),
      images: [ref(K3S_IMAGES)],
      config: {
        "node-name": "master2",
        "node-ip": "10.0.0.6",
        // The inventory's nodetype wins over the derived one; a group that cannot be a label is left out.
        "node-label": ["nodetype=depot", "groundcrew.io/group.control=true", "zone=a"],
        "node-taint": ["CriticalAddonsOnly=true:NoExecute"],
        "tls-san": ["10.0.0.6"],
        "cluster-cidr": "10.42.0.0/16",
        "service-cidr": "10.43.0.0/16",
        "write-kubeconfig-mode": "0600",
        "cluster-init": true,
        "disable-default-registry-endpoint": true,
      },
      tokenFile: K3S_TOKEN_FILE,
      registry: {
        endpoint: "10.0.0.6:5000",
        mirrors: ["docker.io", "registry.k8s.io"],
        caFile: AGENT_TLS_FILES.ca,
      },
    });
    expect(plansK3s(steps)).toBe(true);
  });

  it("a joining server: the first server's URL, both addresses in tls-san, no cluster-init, its iface for flannel and the route", () => {
    const { steps } = installSteps(s1, HA, plan, layout, images);
    expect(steps.map((step) => step.id)).toEqual(["host.firewall", "host.default-route", "k3s.install"]);
    expectAgentAccepts(steps);
    expect(byId(steps, "host.default-route")).toEqual({ iface: "eth1" });
    expect(steps.at(-1)?.title).toBe("Install k3s (joining server)");
    const params = byId(steps, "k3s.install") as { config: Record<string, unknown> };
    expect(params.config).toMatchObject({
      "node-name": "master1",
      "flannel-iface": "eth1",
      server: "https://10.0.0.6:6443",
      "tls-san": ["10.0.0.6", "10.0.0.5"],
    });
    expect(params.config).not.toHaveProperty("cluster-init");
    expect(byId(steps, "host.firewall")).not.toMatchObject({
      rules: expect.arrayContaining([{ port: "7444", protocol: "tcp" }]) as unknown,
    });
  });

  it("a worker: an agent joining the first server, Docker with the depot mirror and an image to verify, no server ports", () => {
    const { steps, skipped } = installSteps(w1, HA, plan, layout, images);
    expect(skipped).toEqual([NO_TOOLKIT]);
    expect(steps.map((step) => step.id)).toEqual([
      "host.firewall",
      "host.default-route",
      "docker.install",
      "k3s.install",
    ]);
    expectAgentAccepts(steps);
    expect(byId(steps, "host.firewall")).toEqual({
      rules: [
        { port: "10250", protocol: "tcp" },
        { port: "8472", protocol: "udp" },
        { port: "any", protocol: "tcp", source: "10.42.0.0/16" },
        { port: "any", protocol: "tcp", source: "10.43.0.0/16" },
      ],
    });
    expect(byId(steps, "docker.install")).toEqual({
      debs: [ref(DOCKER_DEB)],
      registry: { endpoint: "10.0.0.6:5000", caFile: AGENT_TLS_FILES.ca },
      verifyImage: "10.0.0.6:5000/library/busybox:1.36",
    });
    expect(steps.at(-1)?.title).toBe("Install k3s (agent)");
    expect(byId(steps, "k3s.install")).toMatchObject({
      role: "agent",
      config: {
        "node-name": "gpu-1",
        "node-ip": "10.0.0.7",
        "node-label": ["nodetype=gpu", "groundcrew.io/group.gpu=true", "nvidia.com/gpu.present=true"],
        "node-taint": ["nvidia.com/gpu=true:NoSchedule"],
        server: "https://10.0.0.6:6443",
        "disable-default-registry-endpoint": true,
      },
    });
    const config = (byId(steps, "k3s.install") as { config: Record<string, unknown> }).config;
    for (const key of ["tls-san", "cluster-cidr", "service-cidr", "write-kubeconfig-mode", "cluster-init"]) {
      expect(config).not.toHaveProperty(key);
    }
  });

  it("a single plain-HTTP server named by DNS: no cluster-init, no node-ip, no CA anywhere, no Docker image without a registry", () => {
    const only = host("solo", "server", {
      address: "solo.lab.internal",
      depot: true,
      vars: { installDocker: true },
    });
    const inv = inventory([only], { tls: false });
    const d = delivery(inv.hosts, { solo: [K3S_BIN, REGISTRY_TGZ, DOCKER_DEB] });
    const lay = clusterLayout(inv, d);
    const { steps } = installSteps(only, inv, d, lay, []);
    expect(steps.map((step) => step.id)).toEqual([
      "host.firewall",
      "host.default-route",
      "registry.install",
      "docker.install",
      "k3s.install",
    ]);
    expectAgentAccepts(steps);
    expect(byId(steps, "registry.install")).not.toHaveProperty("tls");
    expect(byId(steps, "docker.install")).toEqual({
      debs: [ref(DOCKER_DEB)],
      registry: { endpoint: "solo.lab.internal:5000" },
    });
    expect(steps.at(-1)?.title).toBe("Install k3s (server)");
    const params = byId(steps, "k3s.install") as {
      config: Record<string, unknown>;
      registry: unknown;
      images: unknown;
    };
    expect(params.config).not.toHaveProperty("node-ip");
    expect(params.config).not.toHaveProperty("cluster-init");
    expect(params.config).not.toHaveProperty("server");
    expect(params.config["tls-san"]).toEqual(["solo.lab.internal"]);
    expect(params.registry).toEqual({
      endpoint: "solo.lab.internal:5000",
      mirrors: ["docker.io", "registry.k8s.io"],
    });
    expect(params.images).toEqual([]);
  });

  it("names what the bundle lacks and leaves it out; no registry means the default registry endpoint stays", () => {
    const depot = host("d", "server", { depot: true, vars: { installDocker: true } });
    const inv = inventory([depot]);
    const d = delivery(inv.hosts, { d: [HOST_DEB] });
    const { steps, skipped } = installSteps(depot, inv, d, clusterLayout(inv, d), []);
    expect(steps.map((step) => step.id)).toEqual(["host.firewall", "host.default-route"]);
    expect(skipped).toEqual([
      "the depot registry (the bundle has no registry binary)",
      "Docker (the bundle has neither Docker .debs nor a static tarball for this host)",
      "k3s (the bundle has no k3s binary for this host)",
    ]);
    expect(plansK3s(steps)).toBe(false);

    // k3s without a depot registry: no mirror settings.
    const bare = delivery(inv.hosts, { d: [K3S_BIN] });
    const k3s = byId(installSteps(depot, inv, bare, clusterLayout(inv, bare), []).steps, "k3s.install") as {
      config: Record<string, unknown>;
    };
    expect(k3s).not.toHaveProperty("registry");
    expect(k3s.config).not.toHaveProperty("disable-default-registry-endpoint");
  });

  it("installs Docker from the static tarball when the bundle has no Docker .debs, with the same registry and image", () => {
    const needs = { ...HA_NEEDS, "gpu-1": [K3S_BIN, K3S_IMAGES, DOCKER_TGZ] };
    const d = delivery(HA.hosts, needs);
    const { steps, skipped } = installSteps(w1, HA, d, clusterLayout(HA, d), images);
    expect(skipped).toEqual([NO_TOOLKIT]);
    expect(steps.map((step) => step.id)).toEqual([
      "host.firewall",
      "host.default-route",
      "docker.static",
      "k3s.install",
    ]);
    expectAgentAccepts(steps);
    expect(steps[2]?.title).toBe("Install Docker 1.0 from the bundle's static binaries");
    expect(byId(steps, "docker.static")).toEqual({
      artifact: ref(DOCKER_TGZ),
      registry: { endpoint: "10.0.0.6:5000", caFile: AGENT_TLS_FILES.ca },
      verifyImage: "10.0.0.6:5000/library/busybox:1.36",
    });

    // The .debs win when the bundle has both.
    const both = delivery(HA.hosts, { ...HA_NEEDS, "gpu-1": [K3S_BIN, DOCKER_TGZ, DOCKER_DEB] });
    const ids = installSteps(w1, HA, both, clusterLayout(HA, both), images).steps.map((step) => step.id);
    expect(ids).toContain("docker.install");
    expect(ids).not.toContain("docker.static");
  });

  it("plans no k3s for a worker when the inventory has no server", () => {
    const worker = host("w", "worker");
    const inv = inventory([worker]);
    const d = delivery(inv.hosts, { w: [K3S_BIN] });
    const { steps, skipped } = installSteps(worker, inv, d, clusterLayout(inv, d), []);
    expect(plansK3s(steps)).toBe(false);
    expect(skipped).toEqual(["k3s (the bundle has no k3s binary for this host)"]);
  });

  it("joins through a bracketed IPv6 first server", () => {
    const v6 = host("s", "server", { address: "fd00::5" });
    const agent = host("a", "worker", { address: "fd00::7" });
    const inv = inventory([v6, agent]);
    const d = delivery(inv.hosts, { s: [K3S_BIN], a: [K3S_BIN] });
    const { steps } = installSteps(agent, inv, d, clusterLayout(inv, d), []);
    expectAgentAccepts(steps);
    expect(byId(steps, "k3s.install")).toMatchObject({
      config: { "node-ip": "fd00::7", server: "https://[fd00::5]:6443" },
    });
  });
});

describe("installSteps for GPU hosts", () => {
  const runfile = artifact("nvidia-driver", "nvidia/NVIDIA-Linux-x86_64-550.54.15.run");
  const headers = artifact("deb", "nvidia/linux-headers-6.1.0-18-amd64.deb", "nvidia");
  const toolkit = [
    "libnvidia-container1",
    "libnvidia-container-tools",
    "nvidia-container-toolkit-base",
    "nvidia-container-toolkit",
  ].map((name) => artifact("nvidia-toolkit", `nvidia/${name}_1.17.4-1_amd64.deb`));
  const server = host("s", "server", { address: "10.0.0.5" });
  const gpu = (vars: Partial<InventoryHost["vars"]>) =>
    host("g", "worker", { address: "10.0.0.8", vars: { gpu: true, ...vars } });
  const plan = (h: InventoryHost, artifacts: BundleArtifact[]) => {
    const inv = inventory([server, h]);
    const d = delivery(inv.hosts, { s: [K3S_BIN], g: artifacts });
    return installSteps(h, inv, d, clusterLayout(inv, d), []);
  };

  it("blacklists nouveau, installs the driver with the bundle's nvidia .debs and the toolkit, after Docker and before k3s", () => {
    const { steps, skipped } = plan(gpu({ installNvidiaDriver: true, installDocker: true }), [
      K3S_BIN,
      DOCKER_DEB,
      runfile,
      headers,
      ...toolkit,
    ]);
    expect(skipped).toEqual([]);
    expect(steps.map((step) => step.id)).toEqual([
      "host.firewall",
      "host.default-route",
      "docker.install",
      "gpu.nouveau",
      "gpu.driver",
      "gpu.toolkit",
      "k3s.install",
    ]);
    expectAgentAccepts(steps);
    expect(byId(steps, "gpu.nouveau")).toEqual({});
    expect(byId(steps, "gpu.driver")).toEqual({ runfile: ref(runfile), debs: [ref(headers)] });
    expect(steps.find((step) => step.id === "gpu.driver")?.title).toBe(
      "Install the NVIDIA driver 1.0 from the bundle",
    );
    expect(byId(steps, "gpu.toolkit")).toEqual({ debs: toolkit.map(ref) });
    expect(byId(steps, "k3s.install")).toMatchObject({
      config: { "node-label": expect.arrayContaining(["nvidia.com/gpu.present=true"]) as unknown },
    });
  });

  it("installs only the toolkit on a GPU host that keeps its own driver (installNvidiaDriver off)", () => {
    const { steps, skipped } = plan(gpu({}), [K3S_BIN, runfile, ...toolkit]);
    expect(skipped).toEqual([]);
    expect(steps.map((step) => step.id)).toEqual([
      "host.firewall",
      "host.default-route",
      "gpu.toolkit",
      "k3s.install",
    ]);
  });

  it("plans no GPU step on a host without a GPU, whatever the bundle holds", () => {
    const { steps, skipped } = plan(host("g", "worker", { vars: { installNvidiaDriver: true } }), [
      K3S_BIN,
      runfile,
      headers,
      ...toolkit,
    ]);
    expect(skipped).toEqual([]);
    expect(steps.map((step) => step.id).filter((id) => id.startsWith("gpu."))).toEqual([]);
  });

  it("names the driver and the toolkit when the bundle lacks them", () => {
    const { steps, skipped } = plan(gpu({ installNvidiaDriver: true }), [K3S_BIN, headers]);
    expect(steps.map((step) => step.id).filter((id) => id.startsWith("gpu."))).toEqual([]);
    expect(skipped).toEqual([
      "the NVIDIA driver (the bundle has no driver runfile for this host)",
      "the NVIDIA container toolkit (the bundle has no nvidia-toolkit packages for this host)",
    ]);
  });

  it("reset undoes the GPU stack between k3s and Docker, with params the agent accepts", () => {
    const ids = resetSteps("g").map((step) => step.id);
    expect(ids.slice(ids.indexOf("docker.static"), ids.indexOf("k3s.install") + 1)).toEqual([
      "docker.static",
      "gpu.nouveau",
      "gpu.driver",
      "gpu.toolkit",
      "k3s.install",
    ]);
    expectAgentAccepts(resetSteps("g"));
    const agentOrder = ALL_STEPS.map((step) => step.id);
    expect(
      agentOrder.slice(agentOrder.indexOf("docker.static") + 1, agentOrder.indexOf("k3s.install")),
    ).toEqual(["gpu.nouveau", "gpu.driver", "gpu.toolkit"]);
  });
});
