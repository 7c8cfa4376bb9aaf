import { describe, expect, it } from "vitest";
import type { BundleArtifact } from "../../server/bundle/verified-bundle.js";
import { parseInventory } from "../../server/inventory/load.js";
import type { Inventory, InventoryDeps } from "../../server/inventory/types.js";
import { artifactLookup, fetchStep, planDelivery } from "../../server/orchestrate/delivery.js";
import { manifestFor, type FixtureArtifact } from "../fakes/bundle-fixture.js";

const deps: InventoryDeps = { fileExists: () => true, homeDir: "/home/op", env: {} };

function fleet(): Inventory {
  return parseInventory(
    [
      "defaults: {user: ops}",
      "hosts:",
      "  - {name: depot, address: 10.0.0.1, role: server, depot: true}",
      "  - {name: cp2, address: 10.0.0.2, installDocker: true}",
      "  - {name: gpu1, address: 10.0.0.3, gpu: true, installNvidiaDriver: true}",
      "  - {name: gpu2, address: 10.0.0.4, gpu: true}",
      "  - {name: arm1, address: 10.0.0.5}",
      "",
    ].join("\n"),
    "/fleet.yaml",
    deps,
  );
}

const FILES: FixtureArtifact[] = [
  { path: "k3s/amd64/k3s", kind: "k3s-binary", content: "a" },
  { path: "k3s/arm64/k3s", kind: "k3s-binary", content: "b", arch: "arm64" },
  { path: "docker/containerd.deb", kind: "deb", content: "c", component: "docker" },
  { path: "registry/registry.tgz", kind: "registry", content: "d" },
  { path: "images/app.tar", kind: "image-archive", content: "e" },
  { path: "nvidia/driver.run", kind: "nvidia-driver", content: "f" },
  { path: "nvidia/toolkit.deb", kind: "nvidia-toolkit", content: "g" },
  { path: "manifests/device-plugin.yml", kind: "manifest", content: "h", arch: "all" },
  { path: "debs/common.deb", kind: "deb", content: "i" },
];

function bundle() {
  const manifest = { ...manifestFor(FILES), arch: ["amd64", "arm64"] as ("amd64" | "arm64")[] };
  const artifacts: BundleArtifact[] = manifest.artifacts.map((entry) => ({
    entry,
    file: `/cache/${entry.sha256}`,
  }));
  return {
    location: "b",
    form: "directory" as const,
    manifest,
    rawManifest: manifest,
    signature: { state: "absent" as const },
    artifacts,
    totalBytes: 9,
  };
}

describe("who needs which artifact", () => {
  const inventory = fleet();
  const arch = (host: { name: string }): string => (host.name === "arm1" ? "arm64" : "amd64");
  const delivery = planDelivery(inventory.hosts, arch, bundle());
  const needs = (host: string): string[] =>
    (delivery.needs.get(host) ?? []).map((artifact) => artifact.entry.path);

  it("gives each host only what its role, settings and architecture call for", () => {
    expect(needs("depot")).toEqual([
      "k3s/amd64/k3s",
      "registry/registry.tgz",
      "images/app.tar",
      "manifests/device-plugin.yml",
      "debs/common.deb",
    ]);
    expect(needs("cp2")).toEqual(["k3s/amd64/k3s", "docker/containerd.deb", "debs/common.deb"]);
    expect(needs("gpu1")).toEqual([
      "k3s/amd64/k3s",
      "nvidia/driver.run",
      "nvidia/toolkit.deb",
      "debs/common.deb",
    ]);
    // A GPU host that keeps its own driver gets the toolkit, not the driver.
    expect(needs("gpu2")).toEqual(["k3s/amd64/k3s", "nvidia/toolkit.deb", "debs/common.deb"]);
    // common.deb is built for amd64: an arm64 host gets only its own k3s.
    expect(needs("arm1")).toEqual(["k3s/arm64/k3s"]);
  });

  it("stocks the depot with everything some host needs, once", () => {
    expect(delivery.depotStock.map((artifact) => artifact.entry.path).sort()).toEqual(
      FILES.map((file) => file.path).sort(),
    );
  });

  it("sends a host to the depot first and the provisioner second; the depot to the provisioner only", () => {
    const [depot, cp2] = inventory.hosts;
    if (depot === undefined || cp2 === undefined) throw new Error("fleet");
    const sources = (host: typeof depot) => {
      const step = fetchStep(host, delivery, "https://10.0.0.100:7443");
      return (step?.params as { sources: unknown[] }).sources;
    };
    expect(sources(cp2)).toEqual([
      { name: "depot depot", url: "https://10.0.0.1:7444", serverName: "depot.groundcrew.internal" },
      { name: "the provisioner", url: "https://10.0.0.100:7443" },
    ]);
    expect(sources(depot)).toEqual([{ name: "the provisioner", url: "https://10.0.0.100:7443" }]);
  });

  it("lets the provisioner serve a host only the artifacts its plan names", () => {
    const lookup = artifactLookup(delivery);
    const driver = bundle().manifest.artifacts.find((entry) => entry.kind === "nvidia-driver");
    if (driver === undefined) throw new Error("fixture");
    expect(lookup("gpu1", driver.sha256)).toEqual({ file: `/cache/${driver.sha256}`, size: 1 });
    expect(lookup("cp2", driver.sha256)).toBeUndefined();
    expect(lookup("stranger", driver.sha256)).toBeUndefined();
  });

  it("plans no fetch step without a bundle", () => {
    const empty = planDelivery(inventory.hosts, arch, undefined);
    expect(inventory.hosts.map((host) => fetchStep(host, empty, "https://x:1"))).toEqual(
      Array(5).fill(undefined),
    );
    expect(empty.depotStock).toEqual([]);
  });
});
