import { describe, expect, it } from "vitest";
import { ALL_STEPS } from "../../agent/steps/index.js";
import type { BundleArtifact } from "../../server/bundle/verified-bundle.js";
import { clusterLayout, installSteps } from "../../server/cluster/install-plan.js";
import { clusterManifests } from "../../server/cluster/manifests/cluster-manifests.js";
import type { Inventory, InventoryHost } from "../../server/inventory/types.js";
import type { Delivery } from "../../server/orchestrate/delivery.js";
import { resetSteps } from "../../server/orchestrate/plan.js";

function host(name: string, role: "server" | "worker", depot = false): InventoryHost {
  return {
    name,
    address: `10.0.0.${name.length}`,
    ssh: { user: "ops", port: 22, useAgent: true },
    sudo: { mode: "passwordless" },
    role,
    depot,
    vars: { gpu: false, labels: {}, taints: [], installDocker: false, installNvidiaDriver: false },
    groups: [],
    source: { file: "/f.yaml", line: 1 },
  };
}

const K3S_BIN: BundleArtifact = {
  entry: {
    path: "k3s/k3s",
    kind: "k3s-binary",
    name: "k3s",
    version: "1",
    arch: "amd64",
    size: 1,
    sha256: "1".repeat(64),
  },
};
const server = host("s1", "server", true);
const joining = host("s22", "server");
const worker = host("w333", "worker");
const inventory: Inventory = {
  file: "/f.yaml",
  format: "yaml",
  hosts: [server, joining, worker],
  cluster: {
    token: { source: "generate" },
    clusterCidr: "10.42.0.0/16",
    serviceCidr: "10.43.0.0/16",
    httpPort: 8080,
    httpsPort: 8443,
    registry: { port: 5000, tls: false, mirrors: ["docker.io"] },
  },
  provisioner: {},
  bundle: { trust: [] },
  addons: [],
  storage: {},
};
const delivery: Delivery = {
  depot: server,
  depotStock: [],
  needs: new Map(inventory.hosts.map((h) => [h.name, [K3S_BIN]])),
};
const layout = clusterLayout(inventory, delivery);
const manifests = clusterManifests({
  ports: inventory.cluster,
  gpu: false,
  images: [],
  addons: [
    {
      name: "hello",
      namespace: "apps",
      chart: { sha256: "a".repeat(64), size: 3, path: "helm-chart/hello-1.0.0.tgz", kind: "helm-chart" },
      bytes: Buffer.from("abc"),
    },
  ],
});

describe("the plan's k3s.manifests step", () => {
  it("every server places the same manifests right after k3s.install; workers none", () => {
    const plans = inventory.hosts.map(
      (h) => installSteps(h, inventory, delivery, layout, [], manifests).steps,
    );
    for (const steps of plans.slice(0, 2)) {
      const ids = steps.map((step) => step.id);
      expect(ids.indexOf("k3s.manifests")).toBe(ids.indexOf("k3s.install") + 1);
      expect(ids.at(-1)).toBe("k3s.manifests");
    }
    expect(plans[0]?.at(-1)).toEqual(plans[1]?.at(-1));
    expect(plans[2]?.map((step) => step.id)).not.toContain("k3s.manifests");
    const step = plans[0]?.at(-1);
    expect(step?.title).toBe("Place 2 auto-deploy manifest(s) for k3s");
    expect(step?.params).toEqual({
      manifests: manifests.manifests.map(({ name, content }) => ({ name, content })),
      charts: [],
    });
    const agentStep = ALL_STEPS.find((candidate) => candidate.id === "k3s.manifests");
    expect(() => agentStep?.bind(step?.params)).not.toThrow();
  });

  it("is not planned without manifests, nor where k3s is not installed", () => {
    expect(installSteps(server, inventory, delivery, layout, []).steps.map((s) => s.id)).not.toContain(
      "k3s.manifests",
    );
    const noK3s: Delivery = { ...delivery, needs: new Map() };
    const steps = installSteps(
      server,
      inventory,
      noK3s,
      clusterLayout(inventory, noK3s),
      [],
      manifests,
    ).steps;
    expect(steps.map((s) => s.id)).not.toContain("k3s.manifests");
  });

  it("reset undoes it first (after k3s.install in apply order), with params the agent accepts", () => {
    const steps = resetSteps("s1");
    const ids = steps.map((step) => step.id);
    expect(ids.indexOf("k3s.manifests")).toBe(ids.indexOf("k3s.install") + 1);
    const step = steps.find((s) => s.id === "k3s.manifests");
    const agentStep = ALL_STEPS.find((candidate) => candidate.id === "k3s.manifests");
    expect(() => agentStep?.bind(step?.params)).not.toThrow();
  });
});
