import { describe, expect, it } from "vitest";
import type { ClusterNode } from "../../agent/steps/k3s-nodes.js";
import {
  MANAGED_LABELS_ANNOTATION,
  MANAGED_TAINTS_ANNOTATION,
  nodePatch,
  parseTaint,
  syncNodeMetadata,
} from "../../server/cluster/node-sync.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { testHost } from "../support/inventory-host.js";

function node(
  name: string,
  labels: Record<string, string>,
  annotations: Record<string, string> = {},
  taints?: ClusterNode["spec"]["taints"],
): ClusterNode {
  return {
    metadata: { name, labels, annotations },
    spec: taints === undefined ? {} : { taints },
    status: { conditions: [{ type: "Ready", status: "True" }], allocatable: {} },
  };
}

const gpuWorker = testHost("gpu1", "worker", {
  groups: ["gpu"],
  vars: { gpu: true, labels: { zone: "a" }, taints: ["nvidia.com/gpu=true:NoSchedule"] },
});
/** The labels k3s registered gpu1 with (node-label from config.yaml). */
const registered = {
  "kubernetes.io/hostname": "gpu1",
  nodetype: "gpu",
  "groundcrew.io/group.gpu": "true",
  "nvidia.com/gpu.present": "true",
  zone: "a",
};

describe("parseTaint", () => {
  it("reads key=value:Effect and key:Effect", () => {
    expect(parseTaint("nvidia.com/gpu=true:NoSchedule")).toEqual({
      key: "nvidia.com/gpu",
      value: "true",
      effect: "NoSchedule",
    });
    expect(parseTaint("dedicated:NoExecute")).toEqual({ key: "dedicated", effect: "NoExecute" });
  });
});

describe("nodePatch: node labels and taints kept in line with the inventory", () => {
  it("a node just registered with the inventory's labels and taint gets only the bookkeeping annotations", () => {
    const fresh = node("gpu1", registered, {}, [
      { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" },
    ]);
    const { patch, changes } = nodePatch(gpuWorker, fresh);
    expect(changes).toEqual([]);
    expect(patch).toEqual({
      metadata: {
        annotations: {
          [MANAGED_LABELS_ANNOTATION]: JSON.stringify(
            Object.keys(registered)
              .filter((key) => key !== "kubernetes.io/hostname")
              .sort(),
          ),
          [MANAGED_TAINTS_ANNOTATION]: JSON.stringify(["nvidia.com/gpu:NoSchedule"]),
        },
      },
    });
  });

  it("a synced node that still matches needs no patch", () => {
    const fresh = node("gpu1", registered, {}, [
      { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" },
    ]);
    const annotations = nodePatch(gpuWorker, fresh).patch?.["metadata"] as {
      annotations: Record<string, string>;
    };
    const synced = node("gpu1", registered, annotations.annotations, fresh.spec.taints);
    expect(nodePatch(gpuWorker, synced)).toEqual({ changes: [] });
  });

  it("a label and a taint dropped from the inventory are removed; new and changed ones set; others' stay", () => {
    const before = node(
      "gpu1",
      { ...registered, team: "ml", "other.io/keep": "x" },
      {
        [MANAGED_LABELS_ANNOTATION]: JSON.stringify(["team", "zone", "nodetype"]),
        [MANAGED_TAINTS_ANNOTATION]: JSON.stringify(["nvidia.com/gpu:NoSchedule", "old:NoExecute"]),
      },
      [
        { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" },
        { key: "old", value: "1", effect: "NoExecute" },
        { key: "node.kubernetes.io/unreachable", effect: "NoExecute" },
      ],
    );
    const edited = testHost("gpu1", "worker", {
      groups: ["gpu"],
      vars: {
        gpu: true,
        labels: { zone: "b" },
        taints: ["nvidia.com/gpu=present:NoSchedule", "dedicated:NoSchedule"],
      },
    });
    const { patch, changes } = nodePatch(edited, before);
    expect(changes).toEqual([
      "label zone=b set",
      "label team removed",
      "taint nvidia.com/gpu=present:NoSchedule set",
      "taint dedicated:NoSchedule set",
      "taint nvidia.com/gpu=true:NoSchedule removed",
      "taint old=1:NoExecute removed",
    ]);
    const metadata = patch?.["metadata"] as { labels: Record<string, string | null> };
    expect(metadata.labels).toEqual({ zone: "b", team: null });
    expect(patch?.["spec"]).toEqual({
      taints: [
        { key: "node.kubernetes.io/unreachable", effect: "NoExecute" },
        { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" },
        { key: "dedicated", effect: "NoSchedule" },
      ],
    });
  });

  it("an annotation edited into nonsense counts as nothing managed: nothing is removed", () => {
    const before = node("gpu1", { ...registered, team: "ml" }, { [MANAGED_LABELS_ANNOTATION]: "{not json" }, [
      { key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" },
    ]);
    expect(nodePatch(gpuWorker, before).changes).toEqual([]);
  });
});

describe("syncNodeMetadata", () => {
  it("patches each node through k3s kubectl and reports per node; a refused patch and a missing node are problems", async () => {
    const exec = fakeExec();
    exec.answer(
      `/usr/local/bin/k3s kubectl patch node gpu1 --type=merge -p ${JSON.stringify(
        nodePatch(gpuWorker, node("gpu1", {})).patch,
      )}`,
      { stdout: "node/gpu1 patched\n" },
    );
    const other = testHost("cpu1", "worker", { vars: { labels: { zone: "c" } } });
    const refused = testHost("cpu2", "worker", { vars: { labels: { zone: "c" } } });
    exec.answer(
      `/usr/local/bin/k3s kubectl patch node cpu2 --type=merge -p ${JSON.stringify(nodePatch(refused, node("cpu2", {})).patch)}`,
      { code: 1, stderr: 'The Node "cpu2" is invalid: metadata.labels: Invalid value\n' },
    );
    const result = await syncNodeMetadata(
      exec,
      [gpuWorker, other, refused],
      [node("gpu1", {}), node("cpu2", {})],
    );
    expect(result.changes).toContain("gpu1: label zone=a set");
    expect(result.changes).toContain("gpu1: taint nvidia.com/gpu=true:NoSchedule set");
    expect(result.problems).toEqual([
      "cpu1: no such node, its labels and taints were not synced",
      'cpu2: labels and taints not synced: The Node "cpu2" is invalid: metadata.labels: Invalid value',
    ]);
  });
});
