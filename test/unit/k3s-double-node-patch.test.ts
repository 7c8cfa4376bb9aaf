import { describe, expect, it } from "vitest";
import { applyNodePatch } from "../doubles/k3s/node-patch.js";

/** A Node as the double's API shows it, trimmed to what a patch looks at. */
function node(): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: "node1",
      uid: "u-1",
      labels: { "kubernetes.io/hostname": "node1", pool: "infra" },
      annotations: { "k3s.io/hostname": "node1" },
    },
    spec: { podCIDR: "10.42.0.0/24", taints: [{ key: "dedicated", value: "infra", effect: "NoSchedule" }] },
    status: { capacity: { cpu: "2" } },
  };
}

describe("k3s double: a merge patch on a Node", () => {
  it("adds, changes and removes labels and annotations; taints are replaced whole", () => {
    const result = applyNodePatch("node1", node(), {
      metadata: { labels: { pool: null, "groundcrew.io/role": "gpu" }, annotations: { note: "x" } },
      spec: {
        taints: [
          { key: "nvidia.com/gpu", effect: "NoSchedule" },
          { key: "a", value: "", effect: "NoExecute" },
        ],
      },
    });
    expect(result).toEqual({
      ok: true,
      node: {
        labels: { "kubernetes.io/hostname": "node1", "groundcrew.io/role": "gpu" },
        annotations: { "k3s.io/hostname": "node1", note: "x" },
        taints: [
          { key: "nvidia.com/gpu", effect: "NoSchedule" },
          { key: "a", effect: "NoExecute" },
        ],
      },
    });
  });

  it("removes every taint with spec.taints: null, and ignores status", () => {
    const result = applyNodePatch("node1", node(), {
      spec: { taints: null },
      status: { capacity: { cpu: "64" } },
    });
    expect(result.ok && result.node.taints).toEqual([]);
  });

  it("refuses an unknown taint effect as the API server does (422 Invalid, sorted supported values)", () => {
    const result = applyNodePatch("node1", node(), { spec: { taints: [{ key: "k", effect: "Bogus" }] } });
    expect(result).toMatchObject({
      ok: false,
      code: 422,
      reason: "Invalid",
      message:
        'Node "node1" is invalid: spec.taints[0].effect: Unsupported value: "Bogus": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule"',
      causes: [
        {
          field: "spec.taints[0].effect",
          message:
            'Unsupported value: "Bogus": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule"',
        },
      ],
    });
  });

  it("names every invalid field: a missing key and effect, a bad label key, a duplicate taint", () => {
    const result = applyNodePatch("node1", node(), {
      metadata: { labels: { "bad key": "v" } },
      spec: {
        taints: [
          { value: "v" },
          { key: "d", effect: "NoSchedule" },
          { key: "d", value: "x", effect: "NoSchedule" },
        ],
      },
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.causes?.map((cause) => cause.field)).toEqual([
      "metadata.labels",
      "spec.taints[0].key",
      "spec.taints[0].effect",
      "spec.taints[2]",
    ]);
    expect(result.message).toMatch(
      /^Node "node1" is invalid: \[metadata\.labels: Invalid value: "bad key": /,
    );
  });

  it("refuses a label value that is not a string as a decode error (400)", () => {
    expect(applyNodePatch("node1", node(), { metadata: { labels: { a: 1 } } })).toMatchObject({
      ok: false,
      code: 400,
      reason: "BadRequest",
      message: "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
    });
  });

  it("refuses changes the double does not model, and a patch that is not an object", () => {
    expect(applyNodePatch("node1", node(), { spec: { unschedulable: true } })).toMatchObject({
      ok: false,
      code: 400,
      message: "changing spec.unschedulable of a Node is not implemented by the test double",
    });
    expect(applyNodePatch("node1", node(), ["x"])).toMatchObject({ ok: false, code: 400 });
  });

  it("an empty patch changes nothing", () => {
    expect(applyNodePatch("node1", node(), {})).toEqual({
      ok: true,
      node: {
        labels: { "kubernetes.io/hostname": "node1", pool: "infra" },
        annotations: { "k3s.io/hostname": "node1" },
        taints: [{ key: "dedicated", value: "infra", effect: "NoSchedule" }],
      },
    });
  });
});
