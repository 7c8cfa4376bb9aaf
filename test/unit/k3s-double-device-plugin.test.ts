import { describe, expect, it } from "vitest";
import { advertisedGpus, podRunsOn } from "../doubles/k3s/device-plugin.js";
import type { KubeObject } from "../doubles/k3s/kube-object.js";
import {
  DAEMONSET_TOLERATIONS,
  fitsNode,
  matchesNodeSelector,
  podTemplateSpec,
  toleratesTaint,
  type NodeFacts,
  type PodSpec,
} from "../doubles/k3s/scheduling.js";
import { withLiveStatus } from "../doubles/k3s/workload-status.js";

const NVIDIA_CLASS = [{ name: "nvidia", handler: "nvidia" }];

const gpuNode = (overrides: Partial<NodeFacts> = {}): NodeFacts => ({
  name: "gpu1",
  labels: { "nvidia.com/gpu.present": "true", "kubernetes.io/hostname": "gpu1" },
  taints: [],
  ready: true,
  runtimes: ["nvidia", "runc"],
  gpus: 4,
  ...overrides,
});

/** NVIDIA's device plugin as groundcrew renders it (server/cluster/manifests/device-plugin.ts), trimmed. */
function devicePlugin(spec: Partial<PodSpec> = {}): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "nvidia-device-plugin-daemonset", namespace: "kube-system", generation: 1 },
    spec: {
      template: {
        spec: {
          runtimeClassName: "nvidia",
          nodeSelector: { "nvidia.com/gpu.present": "true" },
          tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
          containers: [{ name: "ctr", image: "depot:5000/nvidia/k8s-device-plugin:v0.17.0" }],
          ...spec,
        },
      },
    },
  };
}

const specOf = (object: KubeObject): PodSpec => {
  const spec = podTemplateSpec(object);
  if (spec === undefined) throw new Error("no pod spec");
  return spec;
};

describe("k3s double: where pods go", () => {
  it("matches nodeSelectors on exact values", () => {
    expect(matchesNodeSelector({ a: "1" }, { a: "1", b: "2" })).toBe(true);
    expect(matchesNodeSelector({ a: "1" }, { a: "2" })).toBe(false);
    expect(matchesNodeSelector(undefined, {})).toBe(true);
  });

  it("tolerates taints as Kubernetes does (Exists, Equal, empty key and effect)", () => {
    const taint = { key: "dedicated", value: "ml", effect: "NoSchedule" } as const;
    expect(toleratesTaint({ key: "dedicated", operator: "Equal", value: "ml" }, taint)).toBe(true);
    expect(toleratesTaint({ key: "dedicated", value: "other" }, taint)).toBe(false);
    expect(toleratesTaint({ key: "dedicated", operator: "Exists", effect: "NoExecute" }, taint)).toBe(false);
    expect(toleratesTaint({ operator: "Exists" }, taint)).toBe(true);
    expect(toleratesTaint({ key: "other", operator: "Exists" }, taint)).toBe(false);
  });

  it("places a pod only where NoSchedule and NoExecute taints are tolerated; PreferNoSchedule only steers", () => {
    const spec = specOf(devicePlugin());
    expect(fitsNode(spec, gpuNode({ taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }] }))).toBe(true);
    expect(fitsNode(spec, gpuNode({ taints: [{ key: "dedicated", value: "x", effect: "NoExecute" }] }))).toBe(
      false,
    );
    expect(fitsNode(spec, gpuNode({ taints: [{ key: "dedicated", effect: "PreferNoSchedule" }] }))).toBe(
      true,
    );
    const unschedulable = gpuNode({
      taints: [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }],
    });
    expect(fitsNode(spec, unschedulable)).toBe(false);
    expect(fitsNode(spec, unschedulable, DAEMONSET_TOLERATIONS)).toBe(true);
  });
});

describe("k3s double: NVIDIA's device plugin", () => {
  const plugin = specOf(devicePlugin());

  it("advertises the node's GPUs where it fits and runs under the nvidia runtime", () => {
    expect(advertisedGpus(gpuNode(), [plugin], NVIDIA_CLASS)).toBe(4);
    expect(advertisedGpus(gpuNode({ ready: false }), [plugin], NVIDIA_CLASS)).toBe(4);
  });

  it("advertises nothing without runtimeClassName (the plugin crash-loops under runc)", () => {
    const runc = specOf(devicePlugin({ runtimeClassName: undefined }));
    expect(runc.runtimeClassName).toBeUndefined();
    expect(advertisedGpus(gpuNode(), [runc], NVIDIA_CLASS)).toBe(0);
    expect(podRunsOn(runc, gpuNode(), NVIDIA_CLASS)).toBe(false);
  });

  it("advertises nothing when the node's containerd lacks the runtime, or the RuntimeClass does not exist", () => {
    expect(advertisedGpus(gpuNode({ runtimes: ["runc"] }), [plugin], NVIDIA_CLASS)).toBe(0);
    expect(advertisedGpus(gpuNode(), [plugin], [])).toBe(0);
  });

  it("advertises nothing on nodes its nodeSelector or taints keep it off, nor without GPUs or a plugin", () => {
    expect(advertisedGpus(gpuNode({ labels: {} }), [plugin], NVIDIA_CLASS)).toBe(0);
    expect(
      advertisedGpus(
        gpuNode({ taints: [{ key: "dedicated", effect: "NoSchedule" }] }),
        [plugin],
        NVIDIA_CLASS,
      ),
    ).toBe(0);
    expect(advertisedGpus(gpuNode({ gpus: 0 }), [plugin], NVIDIA_CLASS)).toBe(0);
    const other = specOf(devicePlugin({ containers: [{ image: "busybox:stable" }] }));
    expect(advertisedGpus(gpuNode(), [other], NVIDIA_CLASS)).toBe(0);
  });

  it("reports DaemonSet status: desired where it fits, ready where it runs", () => {
    const view = {
      nodes: [
        gpuNode(),
        gpuNode({ name: "gpu2", runtimes: ["runc"] }),
        gpuNode({ name: "cpu1", labels: {} }),
      ],
      runtimeClasses: NVIDIA_CLASS,
    };
    const status = withLiveStatus(devicePlugin(), view, new Date())["status"];
    expect(status).toEqual({
      currentNumberScheduled: 2,
      desiredNumberScheduled: 2,
      numberMisscheduled: 0,
      numberReady: 1,
      observedGeneration: 1,
      updatedNumberScheduled: 2,
      numberAvailable: 1,
      numberUnavailable: 1,
    });
  });

  it("reports a Deployment available when some node fits and runs its pods", () => {
    const deployment: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "local-path-provisioner", namespace: "kube-system" },
      spec: {
        replicas: 2,
        template: { spec: { containers: [{ image: "rancher/local-path-provisioner:v0.0.31" }] } },
      },
    };
    const up = withLiveStatus(deployment, { nodes: [gpuNode()], runtimeClasses: [] }, new Date())["status"];
    expect(up).toMatchObject({ replicas: 2, readyReplicas: 2, availableReplicas: 2 });
    const down = withLiveStatus(
      deployment,
      { nodes: [gpuNode({ ready: false })], runtimeClasses: [] },
      new Date(),
    )["status"];
    expect(down).toMatchObject({
      replicas: 2,
      unavailableReplicas: 2,
      conditions: [{ type: "Available", status: "False" }, {}],
    });
  });
});
