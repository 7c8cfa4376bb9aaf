import { describe, expect, it } from "vitest";
import type { NodeRecord } from "../doubles/k3s/cluster-state.js";
import { countGpus } from "../doubles/k3s/gpu-probe.js";
import { registeredLabels } from "../doubles/k3s/node-defaults.js";
import { nodeObject, nodeResources } from "../doubles/k3s/node-object.js";
import { configuredRuntimes } from "../doubles/k3s/node-status.js";
import type { Registration } from "../doubles/k3s/protocol.js";
import { binaryQuantity } from "../doubles/k3s/quantities.js";

const STATUS = {
  cpu: 8,
  memoryBytes: 8_343_597_056,
  ephemeralStorageBytes: 62_725_623_808,
  gpus: 2,
  runtimes: ["runc"],
};

const registration = (overrides: Partial<Registration> = {}): Registration => ({
  role: "agent",
  labels: { pool: "gpu" },
  taints: [],
  internalIp: "10.0.0.2",
  hostname: "node2",
  arch: "amd64",
  osImage: "Debian GNU/Linux 12 (bookworm)",
  kernelVersion: "6.1.0",
  status: STATUS,
  ...overrides,
});

describe("k3s double: what a node reports", () => {
  it("counts the GPUs of an nvidia-smi -L listing, not its MIG lines", () => {
    const listing = [
      "GPU 0: NVIDIA H200 (UUID: GPU-5f2c3a1e-0000-0000-0000-000000000000)",
      "  MIG 1g.18gb     Device  0: (UUID: MIG-aaaaaaaa-0000-0000-0000-000000000000)",
      "GPU 1: NVIDIA H200 (UUID: GPU-5f2c3a1e-0000-0000-0000-000000000001)",
      "",
    ].join("\n");
    expect(countGpus(listing)).toBe(2);
    expect(countGpus("No devices were found\n")).toBe(0);
  });

  it("reads the runtime handlers of a containerd config (runc always)", () => {
    const config = [
      "version = 3",
      `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes."nvidia"]`,
      `  runtime_type = "io.containerd.runc.v2"`,
      `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes."nvidia".options]`,
      `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes."nvidia-cdi"]`,
    ].join("\n");
    expect(configuredRuntimes(config)).toEqual(["nvidia", "nvidia-cdi", "runc"]);
    expect(configuredRuntimes("")).toEqual(["runc"]);
  });

  it("formats byte counts as apimachinery's binary quantities", () => {
    expect(binaryQuantity(8_343_597_056)).toBe("8148044Ki");
    expect(binaryQuantity(2 * 1024 ** 3)).toBe("2Gi");
    expect(binaryQuantity(59_589_342_617)).toBe("59589342617");
    expect(binaryQuantity(0)).toBe("0");
  });

  it("capacity and allocatable as a k3s kubelet reports them, nvidia.com/gpu only when advertised", () => {
    expect(nodeResources(STATUS, 0)).toEqual({
      capacity: {
        cpu: "8",
        "ephemeral-storage": "61255492Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        memory: "8148044Ki",
        pods: "110",
      },
      allocatable: {
        cpu: "8",
        "ephemeral-storage": "59589342618",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        memory: "8148044Ki",
        pods: "110",
      },
    });
    const withGpus = nodeResources(STATUS, 2);
    expect(withGpus.capacity["nvidia.com/gpu"]).toBe("2");
    expect(withGpus.allocatable["nvidia.com/gpu"]).toBe("2");
  });

  it("re-registration keeps labels set since, re-applies node-label values and role labels", () => {
    const first = registeredLabels({}, registration(), false);
    expect(first).toMatchObject({
      pool: "gpu",
      "kubernetes.io/hostname": "node2",
      "kubernetes.io/os": "linux",
    });
    const patched = Object.fromEntries(
      Object.entries({ ...first, pool: "changed", "groundcrew.io/extra": "yes" }).filter(
        ([key]) => key !== "kubernetes.io/os",
      ),
    );
    const again = registeredLabels(patched, registration({ role: "server" }), true);
    expect(again).toMatchObject({
      pool: "gpu",
      "groundcrew.io/extra": "yes",
      "kubernetes.io/os": "linux",
      "node-role.kubernetes.io/control-plane": "true",
      "node-role.kubernetes.io/etcd": "true",
    });
  });

  it("a Node object carries the stored labels, annotations and taints and its resources", () => {
    const now = new Date("2030-01-01T00:00:10Z");
    const record: NodeRecord = {
      ...registration(),
      labels: { b: "2", a: "1" },
      annotations: { "k3s.io/hostname": "node2" },
      taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }],
      name: "node2",
      uid: "uid-2",
      passwordHash: "x",
      createdAt: "2030-01-01T00:00:00Z",
      lastHeartbeat: "2030-01-01T00:00:05Z",
      podCidr: "10.42.1.0/24",
    };
    const object = nodeObject(record, now, 2);
    expect(object).toMatchObject({
      metadata: { name: "node2", labels: { a: "1", b: "2" }, annotations: { "k3s.io/hostname": "node2" } },
      spec: { taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }] },
      status: { allocatable: { "nvidia.com/gpu": "2", cpu: "8" } },
    });
    expect(Object.keys((object["metadata"] as { labels: object }).labels)).toEqual(["a", "b"]);
  });
});
