import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ClusterState } from "../doubles/k3s/cluster-state.js";
import { DeployController } from "../doubles/k3s/deploy-controller.js";
import { listenHttps } from "../doubles/k3s/http-server.js";
import { writeKubeconfig } from "../doubles/k3s/kubeconfig.js";
import { kubectl } from "../doubles/k3s/kubectl/main.js";
import { localObjectApi } from "../doubles/k3s/object-api.js";
import { ObjectStore } from "../doubles/k3s/object-store.js";
import { stagePackagedManifests } from "../doubles/k3s/packaged-manifests.js";
import { createCa, createServingCert } from "../doubles/k3s/pki.js";
import type { Registration } from "../doubles/k3s/protocol.js";
import { z } from "zod";
import { seedHandler } from "../doubles/k3s/seed-api.js";

/**
 * The first server's API served in-process on 127.0.0.1 and driven through
 * the double's own `kubectl`, as the provisioner drives `k3s kubectl` on a
 * server (the lab test, k3s-double-objects.test.ts, does the same on real
 * machines).
 */

const registration = (name: string, overrides: Partial<Registration> = {}): Registration => ({
  role: "agent",
  labels: {},
  taints: [],
  internalIp: "10.0.0.9",
  hostname: name,
  arch: "amd64",
  osImage: "Debian GNU/Linux 12 (bookworm)",
  kernelVersion: "6.1.0",
  status: {
    cpu: 4,
    memoryBytes: 4 * 1024 ** 3,
    ephemeralStorageBytes: 20 * 1024 ** 3,
    gpus: 0,
    runtimes: ["runc"],
  },
  ...overrides,
});

const objectSchema = z
  .object({
    kind: z.string(),
    metadata: z.object({ name: z.string(), labels: z.record(z.string()).default({}) }).passthrough(),
    spec: z.record(z.unknown()).default({}),
    status: z.record(z.unknown()).default({}),
  })
  .passthrough();
const listSchema = z.object({
  apiVersion: z.string(),
  kind: z.literal("List"),
  items: z.array(objectSchema),
});
const nodeSchema = objectSchema.extend({
  spec: z.object({ taints: z.array(z.unknown()).optional() }),
  status: z.object({ capacity: z.record(z.string()), allocatable: z.record(z.string()) }),
});

const DEVICE_PLUGIN = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: nvidia-device-plugin-daemonset
  namespace: kube-system
spec:
  selector:
    matchLabels: {name: nvidia-device-plugin-ds}
  template:
    metadata:
      labels: {name: nvidia-device-plugin-ds}
    spec:
      runtimeClassName: nvidia
      nodeSelector: {nvidia.com/gpu.present: "true"}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      containers:
      - name: nvidia-device-plugin-ctr
        image: nvcr.io/nvidia/k8s-device-plugin:v0.17.0
`;

describe("k3s double: the API through its kubectl", () => {
  let dir: string;
  let server: Server;
  let kubeconfig: string;
  let state: ClusterState;
  let objects: ObjectStore;

  /** Runs `kubectl ARGS` against the in-process API; its exit status and what it printed. */
  const run = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = "";
    let stderr = "";
    const out = vi
      .spyOn(process.stdout, "write")
      .mockImplementation((chunk) => ((stdout += String(chunk)), true));
    const err = vi
      .spyOn(process.stderr, "write")
      .mockImplementation((chunk) => ((stderr += String(chunk)), true));
    try {
      const code = await kubectl(["--kubeconfig", kubeconfig, ...args]);
      return { code, stdout, stderr };
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  };
  /** `kubectl ARGS -o json`, which must succeed, parsed with `schema`. */
  const json = async <T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, ...args: string[]): Promise<T> => {
    const result = await run(...args, "-o", "json");
    expect(result.code, result.stderr).toBe(0);
    return schema.parse(JSON.parse(result.stdout));
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "k3s-double-api-"));
    const ca = await createCa();
    state = ClusterState.open(dir, false);
    objects = ObjectStore.open(dir);
    server = await listenHttps(
      await createServingCert(ca, ["127.0.0.1", "localhost"]),
      "127.0.0.1",
      0,
      seedHandler({
        state,
        objects,
        caCertPem: ca.certPem,
        caKeyPem: ca.keyPem,
        serverPassword: "pw",
        agentPassword: undefined,
      }),
    );
    kubeconfig = path.join(dir, "k3s.yaml");
    const { port } = server.address() as AddressInfo;
    await writeKubeconfig(kubeconfig, { port, caPem: ca.certPem, token: state.adminToken, mode: 0o600 });
    state.register("node1", "p1", registration("node1", { role: "server" }));
    state.register(
      "gpu1",
      "p2",
      registration("gpu1", {
        labels: { "nvidia.com/gpu.present": "true" },
        taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }],
        status: {
          cpu: 8,
          memoryBytes: 8 * 1024 ** 3,
          ephemeralStorageBytes: 20 * 1024 ** 3,
          gpus: 2,
          runtimes: ["nvidia", "runc"],
        },
      }),
    );
    const manifests = path.join(dir, "manifests");
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    await stagePackagedManifests(manifests, [], {
      localStoragePath: "/var/lib/rancher/k3s/storage",
      systemDefaultRegistry: "",
    });
    await writeFile(path.join(manifests, "groundcrew-nvidia-device-plugin.yaml"), DEVICE_PLUGIN);
    await new DeployController(manifests, new Set(), localObjectApi(objects)).sync();
    vi.restoreAllMocks();
  });

  afterAll(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("get nodes -o json: capacity and allocatable on every node, nvidia.com/gpu where the device plugin runs", async () => {
    const list = await json(
      z.object({ kind: z.literal("List"), items: z.array(nodeSchema) }),
      "get",
      "nodes",
    );
    const byName = new Map(list.items.map((item) => [item.metadata.name, item.status]));
    expect(byName.get("node1")?.["capacity"]).toMatchObject({
      cpu: "4",
      memory: "4Gi",
      pods: "110",
      "ephemeral-storage": "20Gi",
    });
    expect(byName.get("node1")?.["allocatable"]?.["nvidia.com/gpu"]).toBeUndefined();
    expect(byName.get("gpu1")?.["capacity"]?.["nvidia.com/gpu"]).toBe("2");
    expect(byName.get("gpu1")?.["allocatable"]?.["nvidia.com/gpu"]).toBe("2");
  });

  it("patch node: labels and taints by merge patch, no-change, invalid effect, unknown node", async () => {
    const patch =
      '{"metadata":{"labels":{"groundcrew.io/verified":"yes"}},"spec":{"taints":[{"key":"nvidia.com/gpu","effect":"NoSchedule"},{"key":"maintenance","value":"soon","effect":"PreferNoSchedule"}]}}';
    expect(await run("patch", "node", "gpu1", "--type=merge", "-p", patch)).toEqual({
      code: 0,
      stdout: "node/gpu1 patched\n",
      stderr: "",
    });
    expect((await run("patch", "node/gpu1", "--type", "merge", `-p=${patch}`)).stdout).toBe(
      "node/gpu1 patched (no change)\n",
    );
    const node = await json(nodeSchema, "get", "node", "gpu1");
    expect(node.metadata.labels["groundcrew.io/verified"]).toBe("yes");
    expect(node.spec.taints).toEqual([
      { key: "nvidia.com/gpu", effect: "NoSchedule" },
      { key: "maintenance", value: "soon", effect: "PreferNoSchedule" },
    ]);
    expect(
      (
        await run(
          "patch",
          "node",
          "gpu1",
          "--type",
          "merge",
          "--patch",
          '{"metadata":{"labels":{"groundcrew.io/verified":null}}}',
        )
      ).stdout,
    ).toBe("node/gpu1 patched\n");
    expect((await json(nodeSchema, "get", "node", "gpu1")).metadata.labels).not.toHaveProperty(
      "groundcrew.io/verified",
    );

    const invalid = await run(
      "patch",
      "node",
      "gpu1",
      "--type=merge",
      "-p",
      '{"spec":{"taints":[{"key":"k","effect":"Bogus"}]}}',
    );
    expect(invalid).toEqual({
      code: 1,
      stdout: "",
      stderr:
        'The Node "gpu1" is invalid: spec.taints[0].effect: Unsupported value: "Bogus": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule"\n',
    });
    expect(await run("patch", "node", "nope", "--type=merge", "-p", "{}")).toEqual({
      code: 1,
      stdout: "",
      stderr: 'Error from server (NotFound): nodes "nope" not found\n',
    });
  });

  it("get storageclasses: a List, one object by name, kubectl's NotFound and table", async () => {
    const list = await json(listSchema, "get", "storageclasses");
    expect([list.apiVersion, list.kind, list.items.map((item) => item.metadata.name)]).toEqual([
      "v1",
      "List",
      ["local-path"],
    ]);
    const one = await json(objectSchema, "get", "sc", "local-path");
    expect(one).toMatchObject({ kind: "StorageClass", provisioner: "rancher.io/local-path" });
    expect(await run("get", "storageclass.storage.k8s.io", "nope")).toEqual({
      code: 1,
      stdout: "",
      stderr: 'Error from server (NotFound): storageclasses.storage.k8s.io "nope" not found\n',
    });
    const table = (await run("get", "sc")).stdout.split("\n");
    expect(table[0]).toMatch(
      /^NAME\s+PROVISIONER\s+RECLAIMPOLICY\s+VOLUMEBINDINGMODE\s+ALLOWVOLUMEEXPANSION\s+AGE$/,
    );
    expect(table[1]).toMatch(
      /^local-path \(default\)\s+rancher\.io\/local-path\s+Delete\s+WaitForFirstConsumer\s+false\s+\S+$/,
    );
    expect((await run("get", "sc", "-o", "name")).stdout).toBe("storageclass.storage.k8s.io/local-path\n");
  });

  it("get daemonsets and addons by namespace: live DaemonSet status, No resources found elsewhere", async () => {
    const ds = await json(objectSchema, "get", "ds", "-n", "kube-system", "nvidia-device-plugin-daemonset");
    expect(ds.status).toMatchObject({ desiredNumberScheduled: 1, numberReady: 1 });
    expect(await run("get", "daemonsets.apps")).toEqual({
      code: 0,
      stdout: "",
      stderr: "No resources found in default namespace.\n",
    });
    const addons = await json(listSchema, "get", "addons", "-A");
    expect(addons.items.map((item) => item.metadata.name)).toEqual([
      "groundcrew-nvidia-device-plugin",
      "local-storage",
      "runtimes",
    ]);
    expect((await run("get", "runtimeclasses", "--no-headers")).stdout).toMatch(/^crun\s+crun\s+\S+\n/);
  });

  it("delete -f: every object of the file, NotFound as kubectl says it, --ignore-not-found", async () => {
    const file = path.join(dir, "manifests", "groundcrew-nvidia-device-plugin.yaml");
    expect(await run("delete", "-f", file, "--ignore-not-found", "--timeout=60s")).toEqual({
      code: 0,
      stdout: 'daemonset.apps "nvidia-device-plugin-daemonset" deleted\n',
      stderr: "",
    });
    expect(await run("delete", "-f", file)).toEqual({
      code: 1,
      stdout: "",
      stderr: `Error from server (NotFound): error when deleting "${file}": daemonsets.apps "nvidia-device-plugin-daemonset" not found\n`,
    });
    expect(await run("delete", "-f", file, "--ignore-not-found")).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
    const node = await json(nodeSchema, "get", "node", "gpu1");
    expect(node.status.allocatable["nvidia.com/gpu"]).toBeUndefined();
  });
});
