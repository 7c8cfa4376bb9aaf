import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import type { BundleArtifact } from "../../server/bundle/verified-bundle.js";
import { verifyBundle } from "../../server/bundle/verify-bundle.js";
import { checkNfsStorage, nfsStorageProblems } from "../../server/cluster/storage-bundle.js";
import { parseInventory } from "../../server/inventory/load.js";
import type { Inventory } from "../../server/inventory/types.js";
import { dryRun, up, type UpReporter } from "../../server/orchestrate/up.js";
import { KnownHosts } from "../../server/ssh/known-hosts.js";
import { writeDirectoryBundle, type FixtureArtifact } from "../fakes/bundle-fixture.js";
import { docker25Members, testImage } from "../support/registry-images.js";
import { tarBytes } from "../support/registry-tar.js";

const FILE = "/fleet/fleet.yaml";
const IMAGE = "registry.k8s.io/sig-storage/nfs-subdir-external-provisioner:v4.0.2";
const IN_BUNDLE = "sig-storage/nfs-subdir-external-provisioner:v4.0.2";
const DEPOT_HOST = "  - {name: cp1, address: 127.0.0.1, port: 1, user: ops, role: server, depot: true}";
const STORAGE = ["storage:", "  nfs: {server: 10.0.0.5, path: /exports/k8s}"];

function inventoryOf(lines: readonly string[], file = FILE): Inventory {
  return parseInventory(lines.join("\n"), file, { fileExists: () => true, homeDir: "/home/op", env: {} });
}

const REGISTRY: BundleArtifact = {
  entry: {
    path: "registry/registry",
    kind: "registry",
    name: "registry",
    version: "3",
    arch: "amd64",
    size: 1,
    sha256: "a".repeat(64),
  },
};
const BUNDLE = { location: "/media/usb/bundle.tar", artifacts: [REGISTRY] };

describe("storage.nfs against the bundle", () => {
  it("finds nothing wrong when the bundle holds the image and the depot serves it", () => {
    const inventory = inventoryOf(["hosts:", DEPOT_HOST, ...STORAGE]);
    expect(nfsStorageProblems(inventory, BUNDLE, ["library/busybox:1.36", IN_BUNDLE])).toEqual([]);
  });

  it("names the missing image and the exact commands that add it to this bundle", () => {
    const inventory = inventoryOf(["hosts:", DEPOT_HOST, ...STORAGE]);
    // Another tag of the same repository does not do.
    expect(
      nfsStorageProblems(inventory, BUNDLE, ["sig-storage/nfs-subdir-external-provisioner:v4.0.1"]),
    ).toEqual([
      `image ${IMAGE} is in no image archive of the bundle. Where there is network access, save it ` +
        `(docker pull ${IMAGE} && docker save ${IMAGE} -o nfs-subdir-external-provisioner-v4.0.2.tar) and add it: ` +
        "groundcrew bundle add /media/usb/bundle.tar nfs-subdir-external-provisioner-v4.0.2.tar --kind image-archive " +
        "--version v4.0.2 --arch amd64 (or arm64: the depot's architecture)",
    ]);
  });

  it("says when nothing would serve the image: no depot host, no registry binary", () => {
    const noDepot = inventoryOf(["hosts:", "  - {name: cp1, user: ops, role: server}", ...STORAGE]);
    expect(nfsStorageProblems(noDepot, { ...BUNDLE, artifacts: [] }, [IN_BUNDLE])).toEqual([
      "the provisioner's image is served by the depot registry, but no host is the depot: set depot: true on one",
      "the provisioner's image is served by the depot registry, but the bundle has no registry binary " +
        "(an artifact of kind registry, or a deb of component registry)",
    ]);
  });

  it("asks nothing of the bundle without storage.nfs", () => {
    expect(nfsStorageProblems(inventoryOf(["hosts:", DEPOT_HOST]), { ...BUNDLE, artifacts: [] }, [])).toEqual(
      [],
    );
  });
});

describe("up and up --dry-run with storage.nfs", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "gc-nfs-bundle-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A directory bundle with the registry binary and one image archive holding `images`. */
  async function bundleHolding(images: readonly string[]): Promise<string> {
    const location = path.join(dir, "bundle");
    const archive = tarBytes(docker25Members(images.map((name) => ({ image: testImage(name), name }))));
    const artifacts: FixtureArtifact[] = [
      { path: "registry/registry", kind: "registry", content: "registry binary" },
      { path: "images/app.tar", kind: "image-archive", content: archive, arch: "all" },
    ];
    await writeDirectoryBundle(location, artifacts);
    return location;
  }

  const noted: string[] = [];
  const reporter: UpReporter = {
    phase: (host, text) => noted.push(`${host}: ${text}`),
    event: () => undefined,
    transfer: (host) => noted.push(`${host}: transfer`),
    note: (text) => noted.push(text),
  };

  async function options(inventory: Inventory, bundle: string) {
    const stateDir = path.join(dir, "state");
    return {
      inventory,
      stateDir,
      agent: { path: path.join(dir, "agent"), sha256: "0".repeat(64) },
      knownHosts: await KnownHosts.open(stateDir),
      acceptNewHostKeys: false,
      concurrency: 1,
      port: 0,
      hostGraceMs: 1_000,
      reporter,
      bundle: { location: bundle, trustedKeys: [] },
    };
  }

  it("checkNfsStorage reads the image archives and accepts a bundle holding the image", async () => {
    const location = await bundleHolding([IMAGE, "docker.io/library/busybox:1.36"]);
    const inventory = inventoryOf(["hosts:", DEPOT_HOST, ...STORAGE]);
    await expect(checkNfsStorage(inventory, await verifyBundle(location))).resolves.toBeUndefined();
    await expect(checkNfsStorage(inventory, undefined)).resolves.toBeUndefined();
  });

  it("both stop before reaching any host, naming the inventory file and the line of nfs:", async () => {
    const location = await bundleHolding(["docker.io/library/busybox:1.36"]);
    const file = path.join(dir, "fleet.yaml");
    const inventory = inventoryOf(["hosts:", DEPOT_HOST, ...STORAGE], file);
    for (const run of [dryRun, up]) {
      noted.length = 0;
      const error: unknown = await run(await options(inventory, location)).catch((caught: unknown) => caught);
      expect(isGroundcrewError(error, "INVENTORY_INVALID"), String(error)).toBe(true);
      const lines = error instanceof Error ? error.message.split("\n") : [];
      expect(lines[1]?.startsWith(`${file}:4: storage.nfs: image ${IMAGE} is in no image archive`)).toBe(
        true,
      );
      expect(lines[1]).toContain(
        `groundcrew bundle add ${location} nfs-subdir-external-provisioner-v4.0.2.tar --kind image-archive`,
      );
      // Only the bundle was read: no host was reached, nothing was journaled.
      expect(noted.filter((line) => !line.startsWith("bundle "))).toEqual([]);
      expect(await readdir(dir)).not.toContain("state");
    }
  });
});
