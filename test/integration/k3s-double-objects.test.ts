import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { z } from "zod";
import { devicePluginManifest } from "../../server/cluster/manifests/device-plugin.js";
import { binaryQuantity } from "../doubles/k3s/quantities.js";
import { ensureK3sDouble } from "../support/k3s-double.js";
import { startLabFleet, type LabFleet } from "../support/lab-fleet.js";
import { buildHeadersDeb, buildNvidiaRunfile, buildToolkitDebs } from "../support/nvidia-doubles.js";
import { tarBytes } from "../support/registry-tar.js";

/**
 * The k3s double as the provisioner checks a finished cluster, on real lab
 * machines: node1 a first server, node2 a GPU agent (two fake NVIDIA GPUs
 * in sysfs, the nvidia-smi and container toolkit doubles installed as the
 * GPU steps install them), node3 a joined server. Packaged manifests,
 * the deploy and helm controllers, `kubectl patch node` across a restart,
 * `kubectl delete -f`, and NVIDIA's device plugin advertising nvidia.com/gpu.
 */

const UNIT = (kind: "server" | "agent"): string => `[Unit]
Description=k3s test double (${kind})
Wants=network-online.target
After=network-online.target

[Service]
Type=${kind === "server" ? "notify" : "exec"}
ExecStart=/usr/local/bin/k3s ${kind}
KillMode=process
Delegate=yes
Restart=always
RestartSec=5s
TimeoutStartSec=60

[Install]
WantedBy=multi-user.target
`;

const MANIFESTS = "/var/lib/rancher/k3s/server/manifests";
const PCI_DEVICES = "/sys/bus/pci/devices";
const FAKE_GPUS = ["0000:65:00.0", "0000:66:00.0"];
const MISSING_CHART = "https://%{KUBERNETES_API}%/static/charts/groundcrew-big-000000000000.tgz";

/** Two NVIDIA 3D controllers (vendor 0x10de, class 0x0302) in a tmpfs over sysfs's device list. */
const MOUNT_FAKE_GPUS = [
  "set -e",
  `mountpoint -q ${PCI_DEVICES} || mount -t tmpfs -o mode=0755,size=1m groundcrew-fake-pci ${PCI_DEVICES}`,
  ...FAKE_GPUS.flatMap((gpu) => [
    `mkdir -p ${PCI_DEVICES}/${gpu}`,
    `echo 0x10de > ${PCI_DEVICES}/${gpu}/vendor`,
    `echo 0x030200 > ${PCI_DEVICES}/${gpu}/class`,
  ]),
].join("\n");

/** A chart as `helm package` writes it. */
function chartTgz(name: string): Buffer {
  return gzipSync(
    tarBytes([
      { name: `${name}/Chart.yaml`, body: `apiVersion: v2\nname: ${name}\nversion: 1.0.0\n` },
      { name: `${name}/values.yaml`, body: "replicas: 1\n" },
    ]),
  );
}

const objectSchema = z
  .object({
    kind: z.string(),
    metadata: z
      .object({
        name: z.string(),
        namespace: z.string().optional(),
        labels: z.record(z.string()).default({}),
        annotations: z.record(z.string()).default({}),
      })
      .passthrough(),
    spec: z.record(z.unknown()).default({}),
    status: z.record(z.unknown()).default({}),
  })
  .passthrough();
type KubeObject = z.infer<typeof objectSchema>;
const listSchema = z.object({ kind: z.literal("List"), items: z.array(objectSchema) });
const nodeSchema = objectSchema.extend({
  spec: z.object({ taints: z.array(z.record(z.string())).optional() }).passthrough(),
  status: z
    .object({
      capacity: z.record(z.string()),
      allocatable: z.record(z.string()),
      conditions: z.array(z.object({ type: z.string(), status: z.string() })),
    })
    .passthrough(),
});
const conditionsSchema = z.array(
  z.object({ type: z.string(), status: z.string(), message: z.string().optional() }),
);

describe("k3s test double: what the provisioner verifies after up", () => {
  let fleet: LabFleet;
  let token: string;
  let node1Address: string;
  const manifestText = new Map<string, string>();

  const sh = (machine: string, script: string): Promise<string> =>
    fleet.asRoot(machine, ["bash", "-c", script]);
  const attempt = async (
    machine: string,
    script: string,
  ): Promise<{ code: number; stdout: string; stderr: string }> => {
    const output = await sh(machine, `{ ${script} ; } >/tmp/out 2>/tmp/err; echo "exit=$?"`);
    return {
      code: Number(/exit=(\d+)/.exec(output)?.[1] ?? "-1"),
      stdout: await sh(machine, "cat /tmp/out"),
      stderr: await sh(machine, "cat /tmp/err"),
    };
  };
  const put = async (machine: string, remote: string, content: string | Buffer): Promise<void> => {
    const local = path.join(fleet.work, `${machine}-${path.basename(remote)}`);
    await writeFile(local, content);
    await sh(machine, `mkdir -p ${path.dirname(remote)}`);
    await fleet.uploadAsRoot(machine, local, remote);
  };
  const kubectl = (machine: string, args: string): Promise<string> =>
    sh(machine, `/usr/local/bin/k3s kubectl ${args}`);
  const getJson = async <T>(
    schema: z.ZodType<T, z.ZodTypeDef, unknown>,
    args: string,
    machine = "node1",
  ): Promise<T> => schema.parse(JSON.parse(await kubectl(machine, `get ${args} -o json`)));
  const node = async (name: string): Promise<z.infer<typeof nodeSchema>> =>
    getJson(nodeSchema, `node ${name}`);
  /** Polls `probe` until it returns a value (not undefined), for at most `timeoutMs`. */
  const eventually = async <T>(
    what: string,
    probe: () => Promise<T | undefined>,
    timeoutMs = 30_000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  const condition = (object: KubeObject, type: string) =>
    conditionsSchema.parse(object.status["conditions"] ?? []).find((item) => item.type === type);
  const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

  beforeAll(async () => {
    const binary = await ensureK3sDouble();
    fleet = await startLabFleet(3);
    node1Address = fleet.lab.machines[0]!.address;
    await Promise.all(
      ["node1", "node2", "node3"].map(async (machine) => {
        await fleet.uploadAsRoot(machine, binary, "/usr/local/bin/k3s");
        await sh(
          machine,
          "chmod 0755 /usr/local/bin/k3s && ln -sf /usr/local/bin/k3s /usr/local/bin/kubectl",
        );
      }),
    );
    await put(
      "node1",
      "/etc/rancher/k3s/config.yaml",
      'write-kubeconfig-mode: "0600"\nnode-label: ["groundcrew.dev/pool=infra"]\ndisable: [traefik]\n',
    );
    await put("node1", "/etc/systemd/system/k3s.service", UNIT("server"));
    await sh("node1", "systemctl daemon-reload && systemctl start k3s");
    token = (await sh("node1", "cat /var/lib/rancher/k3s/server/token")).trim();
  });

  afterAll(async () => {
    await fleet
      .asRoot("node2", ["sh", "-c", `! mountpoint -q ${PCI_DEVICES} || umount ${PCI_DEVICES}`])
      .catch(() => undefined);
    await fleet.stop();
  });

  it("packaged manifests: local-path is the default StorageClass, the nvidia RuntimeClasses, an Addon each", async () => {
    const storageClass = await eventually("the local-path StorageClass", () =>
      getJson(objectSchema, "storageclass local-path"),
    );
    expect(storageClass).toMatchObject({
      metadata: { annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
      provisioner: "rancher.io/local-path",
      reclaimPolicy: "Delete",
      volumeBindingMode: "WaitForFirstConsumer",
    });
    expect(await kubectl("node1", "get sc")).toMatch(
      /^local-path \(default\)\s+rancher\.io\/local-path\s+Delete\s+WaitForFirstConsumer/m,
    );
    const runtimeClasses = await getJson(listSchema, "runtimeclasses.node.k8s.io");
    for (const name of ["nvidia", "nvidia-experimental"])
      expect(runtimeClasses.items.find((item) => item.metadata.name === name)?.["handler"]).toBe(name);

    const addons = await getJson(listSchema, "addons -n kube-system");
    for (const name of ["local-storage", "runtimes"]) {
      const file = `${MANIFESTS}/${name}.yaml`;
      const checksum = (await sh("node1", `sha256sum ${file}`)).split(" ")[0];
      expect(addons.items.find((item) => item.metadata.name === name)?.spec).toEqual({
        source: file,
        checksum,
      });
    }
    expect(await getJson(objectSchema, "deployment local-path-provisioner -n kube-system")).toMatchObject({
      status: { readyReplicas: 1, availableReplicas: 1 },
    });
  });

  it("nodes report capacity and allocatable from their own host", async () => {
    const [cpus, memKb, fsStats] = (
      await sh(
        "node1",
        "nproc; awk '/^MemTotal:/ {print $2}' /proc/meminfo; stat -f -c '%b %s' /var/lib/rancher/k3s",
      )
    )
      .trim()
      .split("\n");
    const [blocks = "0", blockSize = "0"] = (fsStats ?? "").split(" ");
    const storage = Number(blocks) * Number(blockSize);
    const server = await node("node1");
    expect(server.status.capacity).toEqual({
      cpu: cpus,
      "ephemeral-storage": binaryQuantity(storage),
      "hugepages-1Gi": "0",
      "hugepages-2Mi": "0",
      memory: binaryQuantity(Number(memKb) * 1024),
      pods: "110",
    });
    expect(server.status.allocatable).toMatchObject({
      cpu: cpus,
      memory: binaryQuantity(Number(memKb) * 1024),
      pods: "110",
    });
    expect(server.status.allocatable["ephemeral-storage"]).toBe(
      binaryQuantity(storage - Math.floor(storage * 0.05)),
    );
  });

  it("a manifest with a StorageClass and two HelmCharts: objects stored, helm jobs finished, an Addon", async () => {
    const text = [
      stringify({
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name: "fast" },
        provisioner: "example.com/fast",
      }),
      stringify(
        {
          apiVersion: "helm.cattle.io/v1",
          kind: "HelmChart",
          metadata: { name: "hello", namespace: "kube-system" },
          spec: {
            chartContent: chartTgz("hello").toString("base64"),
            targetNamespace: "apps",
            createNamespace: true,
          },
        },
        { lineWidth: 0 },
      ),
      stringify({
        apiVersion: "helm.cattle.io/v1",
        kind: "HelmChart",
        metadata: { name: "big", namespace: "kube-system" },
        spec: { chart: MISSING_CHART, targetNamespace: "default" },
      }),
    ].join("---\n");
    manifestText.set("groundcrew-test", text);
    await put("node1", `${MANIFESTS}/groundcrew-test.yaml`, text);

    const jobs = await eventually("both helm-install jobs", async () => {
      const list = await getJson(listSchema, "jobs.batch -n kube-system");
      return list.items.length === 2 ? list.items : undefined;
    });
    const hello = jobs.find((job) => job.metadata.name === "helm-install-hello");
    const big = jobs.find((job) => job.metadata.name === "helm-install-big");
    expect(hello?.status).toMatchObject({ succeeded: 1 });
    expect(hello && condition(hello, "Complete")?.status).toBe("True");
    expect(big?.status).toMatchObject({ failed: 1 });
    expect(big && condition(big, "Failed")).toMatchObject({
      status: "True",
      message:
        "Error: INSTALLATION FAILED: failed to fetch https://10.43.0.1:443/static/charts/groundcrew-big-000000000000.tgz : 404 Not Found",
    });
    expect((await getJson(objectSchema, "helmchart hello -n kube-system")).status).toEqual({
      jobName: "helm-install-hello",
    });
    expect((await getJson(objectSchema, "sc fast"))["provisioner"]).toBe("example.com/fast");
    expect((await getJson(objectSchema, "addon groundcrew-test -n kube-system")).spec).toEqual({
      source: `${MANIFESTS}/groundcrew-test.yaml`,
      checksum: sha256(text),
    });
    expect(await kubectl("node1", "get helmcharts -A")).toMatch(
      /^kube-system\s+big\s+helm-install-big\s+https:/m,
    );
  });

  it("kubectl delete -f deletes the objects; the unchanged file does not bring them back; a change does", async () => {
    const file = `${MANIFESTS}/groundcrew-test.yaml`;
    expect(await kubectl("node1", `delete -f ${file} --ignore-not-found --timeout=60s`)).toBe(
      [
        'storageclass.storage.k8s.io "fast" deleted',
        'helmchart.helm.cattle.io "hello" deleted',
        'helmchart.helm.cattle.io "big" deleted',
        "",
      ].join("\n"),
    );
    expect((await getJson(listSchema, "jobs -n kube-system")).items).toEqual([]);
    const again = await attempt("node1", `k3s kubectl delete -f ${file}`);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `Error from server (NotFound): error when deleting "${file}": storageclasses.storage.k8s.io "fast" not found`,
    );
    // Several deploy passes see the unchanged file (touched: same content, new mtime) and apply nothing.
    await sh("node1", `touch ${file}`);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const missing = await attempt("node1", "k3s kubectl get sc fast");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      'Error from server (NotFound): storageclasses.storage.k8s.io "fast" not found\n',
    );

    await put("node1", file, `${manifestText.get("groundcrew-test") ?? ""}# changed\n`);
    await eventually("the StorageClass applied again", () => getJson(objectSchema, "sc fast"));
    await eventually("the helm job run again", () =>
      getJson(objectSchema, "job helm-install-hello -n kube-system"),
    );
  });

  it("kubectl patch node: labels and taints persist across a restart; node-label keys get their configured value back", async () => {
    const patch = JSON.stringify({
      metadata: { labels: { "groundcrew.io/verified": "yes", "groundcrew.dev/pool": "changed" } },
      spec: {
        taints: [
          { key: "dedicated", value: "infra", effect: "NoSchedule" },
          { key: "maintenance", effect: "PreferNoSchedule" },
        ],
      },
    });
    expect(await kubectl("node1", `patch node node1 --type=merge -p '${patch}'`)).toBe(
      "node/node1 patched\n",
    );
    expect(await kubectl("node1", `patch node/node1 --type merge --patch='${patch}'`)).toBe(
      "node/node1 patched (no change)\n",
    );
    const invalid = await attempt(
      "node1",
      `k3s kubectl patch node node1 --type=merge -p '{"spec":{"taints":[{"key":"k","effect":"Sometimes"}]}}'`,
    );
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe(
      'The Node "node1" is invalid: spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule"\n',
    );
    const unknown = await attempt("node1", "k3s kubectl patch node nope --type=merge -p '{}'");
    expect([unknown.code, unknown.stderr]).toEqual([
      1,
      'Error from server (NotFound): nodes "nope" not found\n',
    ]);

    await sh("node1", "systemctl restart k3s");
    expect(await kubectl("node1", "wait --for=condition=Ready node/node1 --timeout=60s")).toBe(
      "node/node1 condition met\n",
    );
    const restarted = await node("node1");
    expect(restarted.metadata.labels).toMatchObject({
      "groundcrew.io/verified": "yes",
      "groundcrew.dev/pool": "infra",
      "node-role.kubernetes.io/control-plane": "true",
    });
    expect(restarted.spec.taints).toEqual([
      { key: "dedicated", value: "infra", effect: "NoSchedule" },
      { key: "maintenance", effect: "PreferNoSchedule" },
    ]);
  });

  it("NVIDIA's device plugin: nvidia.com/gpu on the GPU node only when it runs under the nvidia runtime", async () => {
    const release = (await sh("node2", "cat /proc/sys/kernel/osrelease")).trim();
    const work = path.join(fleet.work, "nvidia");
    const runfile = await buildNvidiaRunfile(work);
    const headers = await buildHeadersDeb(work, release);
    const toolkit = await buildToolkitDebs(work);
    for (const file of [runfile, headers.file, ...toolkit.map((deb) => deb.file)])
      await fleet.uploadAsRoot("node2", file, `/tmp/${path.basename(file)}`);
    await sh("node2", MOUNT_FAKE_GPUS);
    await sh(
      "node2",
      [
        `dpkg -i /tmp/${path.basename(headers.file)}`,
        `sh /tmp/${path.basename(runfile)} --silent --dkms`,
        `dpkg -i ${toolkit.map((deb) => `/tmp/${path.basename(deb.file)}`).join(" ")}`,
      ].join(" && "),
    );
    expect((await sh("node2", "nvidia-smi -L")).match(/^GPU \d+: /gm)).toHaveLength(2);

    await put(
      "node2",
      "/etc/rancher/k3s/config.yaml",
      [
        `server: https://${node1Address}:6443`,
        `token: ${token}`,
        'node-label: ["nvidia.com/gpu.present=true"]',
        'node-taint: ["nvidia.com/gpu=present:NoSchedule"]',
        "",
      ].join("\n"),
    );
    await put("node2", "/etc/systemd/system/k3s-agent.service", UNIT("agent"));
    await sh("node2", "systemctl daemon-reload && systemctl start k3s-agent");
    expect(await kubectl("node1", "wait --for=condition=Ready node/node2 --timeout=60s")).toBe(
      "node/node2 condition met\n",
    );
    expect(await sh("node2", "cat /var/lib/rancher/k3s/agent/etc/containerd/config.toml")).toContain(
      `containerd.runtimes."nvidia"]`,
    );
    expect((await node("node2")).status.allocatable["nvidia.com/gpu"]).toBeUndefined();

    // Without runtimeClassName the plugin runs under runc and crash-loops: scheduled, never ready, no GPUs.
    const plugin = devicePluginManifest("nvcr.io/nvidia/k8s-device-plugin:v0.17.0").content;
    expect(plugin).toContain("runtimeClassName: nvidia\n");
    await put(
      "node1",
      `${MANIFESTS}/groundcrew-nvidia-device-plugin.yaml`,
      plugin.replace(/^ +runtimeClassName: nvidia\n/m, ""),
    );
    const crashing = await eventually("the DaemonSet scheduled", async () => {
      const ds = await getJson(objectSchema, "ds nvidia-device-plugin-daemonset -n kube-system");
      return ds.status["desiredNumberScheduled"] === 1 ? ds : undefined;
    });
    expect(crashing.status).toMatchObject({
      desiredNumberScheduled: 1,
      numberReady: 0,
      numberUnavailable: 1,
    });
    expect((await node("node2")).status.capacity["nvidia.com/gpu"]).toBeUndefined();

    await put("node1", `${MANIFESTS}/groundcrew-nvidia-device-plugin.yaml`, plugin);
    const gpuNode = await eventually("nvidia.com/gpu on node2", async () => {
      const found = await node("node2");
      return found.status.allocatable["nvidia.com/gpu"] === undefined ? undefined : found;
    });
    expect(gpuNode.status.allocatable["nvidia.com/gpu"]).toBe("2");
    expect(gpuNode.status.capacity["nvidia.com/gpu"]).toBe("2");
    expect((await node("node1")).status.allocatable["nvidia.com/gpu"]).toBeUndefined();
    expect(
      (await getJson(objectSchema, "daemonset.apps nvidia-device-plugin-daemonset -n kube-system")).status,
    ).toMatchObject({
      desiredNumberScheduled: 1,
      numberReady: 1,
    });
  });

  it("a joined server applies its own manifests through the first server", async () => {
    await put(
      "node3",
      "/etc/rancher/k3s/config.yaml",
      `server: https://${node1Address}:6443\ntoken: ${token}\n`,
    );
    await put("node3", "/etc/systemd/system/k3s.service", UNIT("server"));
    await sh("node3", "systemctl daemon-reload && systemctl start k3s");
    const text = stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "from-node3" },
      data: { a: "b" },
    });
    await put("node3", `${MANIFESTS}/groundcrew-node3.yaml`, text);
    const configMap = await eventually("node3's ConfigMap", () =>
      getJson(objectSchema, "configmap from-node3"),
    );
    expect(configMap["data"]).toEqual({ a: "b" });
    expect((await getJson(objectSchema, "addon groundcrew-node3 -n kube-system")).spec).toEqual({
      source: `${MANIFESTS}/groundcrew-node3.yaml`,
      checksum: sha256(text),
    });
    expect((await getJson(listSchema, "sc", "node3")).items.map((item) => item.metadata.name)).toContain(
      "local-path",
    );
  });
});
