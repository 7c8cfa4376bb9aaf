import { createHash, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { K3S_MANIFESTS_DIR, K3S_STATIC_CHARTS_DIR } from "../../shared/cluster-manifests.js";
import { traefikConfigManifest } from "../../server/cluster/manifests/traefik-config.js";
import { clusterTestBundle } from "../support/cluster-fixture.js";
import { RESET_ALLOWED, snapshotDiff, snapshotHost } from "../support/host-snapshot.js";
import { startLabFleet, type LabFleet } from "../support/lab-fleet.js";
import { tarBytes } from "../support/registry-tar.js";

const PORT = "17452";

/** A packaged chart (`helm package` layout); `padding` random bytes make it too large to inline. */
function chartTgz(name: string, padding = 0): Buffer {
  return gzipSync(
    tarBytes([
      { name: `${name}/Chart.yaml`, body: `apiVersion: v2\nname: ${name}\nversion: 1.0.0\n` },
      { name: `${name}/values.yaml`, body: "replicas: 1\n" },
      ...(padding > 0 ? [{ name: `${name}/files/blob.bin`, body: randomBytes(padding) }] : []),
    ]),
  );
}

const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

describe("add-ons: k3s auto-deploy manifests from the bundle, on a server + a worker", () => {
  let fleet: LabFleet;
  let inventory: string;
  let bundle: string;
  let before: string[];
  const small = chartTgz("hello");
  const large = chartTgz("big", 300 * 1024);
  const manifest = (name: string): string => `${K3S_MANIFESTS_DIR}/${name}.yaml`;
  const files = [
    manifest("groundcrew-traefik-config"),
    manifest("groundcrew-addon-hello"),
    manifest("groundcrew-addon-big"),
    `${K3S_STATIC_CHARTS_DIR}/groundcrew-big-${sha256(large).slice(0, 12)}.tgz`,
  ];
  /** Inode and modification time (ns) of each file on node1: what a rewrite changes. */
  const identities = async (): Promise<string> =>
    fleet.asRoot("node1", ["stat", "-c", "%n %i %.9Y", ...files]);

  beforeAll(async () => {
    fleet = await startLabFleet(2);
    bundle = (await clusterTestBundle(path.join(fleet.work, "bundle"))).file;
    const rendered = path.join(fleet.work, "rendered.yaml");
    await writeFile(
      rendered,
      "spec:\n  containers:\n    - name: hello\n      image: docker.io/groundcrew/hello:1.0\n",
    );
    for (const [name, bytes] of [
      ["hello", small],
      ["big", large],
    ] as const) {
      const file = path.join(fleet.work, `${name}-1.0.0.tgz`);
      await writeFile(file, bytes);
      const added = await fleet.groundcrew("bundle", "add-chart", bundle, file, "--images", rendered);
      expect(added.code, added.stdout + added.stderr).toBe(0);
      expect(added.stdout).toContain("docker.io/groundcrew/hello:1.0  in images/hello-oci.tar");
    }
    await writeFile(path.join(fleet.work, "big-values.yaml"), "replicas: 2\n");
    const [n1, n2] = fleet.lab.machines;
    inventory = await fleet.writeYamlInventory("addons.yaml", [
      "hosts:",
      `  - {name: node1, address: ${n1?.address}, role: server, depot: true}`,
      `  - {name: node2, address: ${n2?.address}, role: worker}`,
      "cluster:",
      "  httpPort: 8080",
      "  httpsPort: 8443",
      "addons:",
      "  - name: hello",
      "    chart: hello",
      "    namespace: apps",
      "    values: {greeting: offline}",
      "    images: [docker.io/groundcrew/hello:1.0]",
      "  - name: big",
      "    chart: helm-chart/big-1.0.0.tgz",
      "    values: big-values.yaml",
    ]);
    before = await snapshotHost(fleet, "node1", RESET_ALLOWED);
  });

  afterAll(async () => {
    await fleet.stop();
  });

  it("up places the manifests in k3s's auto-deploy directory on the server, with the right content", async () => {
    const up = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/node1 +#\d+ k3s\.manifests succeeded/);
    expect(up.stdout).not.toMatch(/node2 +#\d+ k3s\.manifests/);
    // The final verification: k3s applied both HelmCharts and their helm-install jobs completed.
    expect(up.stdout).toMatch(/^add-on +hello +deployed +job helm-install-hello completed$/m);
    expect(up.stdout).toMatch(/^add-on +big +deployed +job helm-install-big completed$/m);

    const read = (file: string) => fleet.asRoot("node1", ["cat", file]);
    expect(await read(manifest("groundcrew-traefik-config"))).toBe(
      traefikConfigManifest({ httpPort: 8080, httpsPort: 8443 }).content,
    );
    expect(parse(await read(manifest("groundcrew-addon-hello")))).toEqual({
      apiVersion: "helm.cattle.io/v1",
      kind: "HelmChart",
      metadata: { name: "hello", namespace: "kube-system" },
      spec: {
        chartContent: small.toString("base64"),
        targetNamespace: "apps",
        createNamespace: true,
        valuesContent: "greeting: offline\n",
      },
    });
    const chartFile = path.posix.basename(files[3] ?? "");
    expect(parse(await read(manifest("groundcrew-addon-big")))).toMatchObject({
      spec: {
        chart: `https://%{KUBERNETES_API}%/static/charts/${chartFile}`,
        targetNamespace: "default",
        valuesContent: "replicas: 2\n",
      },
    });
    expect(await fleet.asRoot("node1", ["sha256sum", files[3] ?? ""])).toContain(sha256(large));
    // The worker gets no manifests: k3s applies them on servers only.
    const worker = await fleet.asRoot("node2", ["sh", "-c", `ls ${K3S_MANIFESTS_DIR} 2>/dev/null || true`]);
    expect(worker.trim()).toBe("");
  });

  it("a second up rewrites nothing: k3s.manifests is skipped, every file keeps its inode and mtime", async () => {
    const first = await identities();
    const again = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/node1 +#\d+ k3s\.manifests skipped/);
    expect(await identities()).toBe(first);
  });

  it("reset removes the manifests and leaves the server as it was", async () => {
    const reset = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    const left = await fleet.asRoot("node1", ["sh", "-c", `ls ${K3S_MANIFESTS_DIR} 2>/dev/null || true`]);
    expect(left.trim()).toBe("");
    const { added, removed } = snapshotDiff(before, await snapshotHost(fleet, "node1", RESET_ALLOWED));
    expect(added, "left behind").toEqual([]);
    expect(removed, "removed").toEqual([]);
  });
});
