import type { InventoryHost } from "../../inventory/types.js";

/** What a finished `up` should find in the cluster, from the inventory and the plan. */
export interface ClusterExpectations {
  /** Every host that runs k3s; those with `gpu: true` must offer nvidia.com/gpu. */
  readonly hosts: readonly InventoryHost[];
  /** Whether the plan deployed NVIDIA's device plugin (its image was in the bundle). */
  readonly devicePlugin: boolean;
  /** Storage classes that must exist besides a default one (the NFS class when configured). */
  readonly storageClasses: readonly string[];
  /** HelmChart names (kube-system) of the inventory's add-ons. */
  readonly addons: readonly string[];
  /** The depot registry, when the depot runs one: where nodes pull, and how many images were seeded. */
  readonly registry?: { readonly depot: string; readonly endpoint: string; readonly images: number };
}

export interface NodeRow {
  readonly name: string;
  /** "control-plane,etcd" or "worker". */
  readonly roles: string;
  readonly ready: boolean;
}

export interface GpuRow {
  readonly node: string;
  /** nvidia.com/gpu allocatable; undefined while the node offers none. */
  readonly gpus?: number;
  /** Why there are none (the device plugin not deployed, not running there). */
  readonly note?: string;
}

export interface StorageClassRow {
  readonly name: string;
  readonly provisioner: string;
  readonly isDefault: boolean;
}

export type AddonState = "deployed" | "installing" | "failed" | "missing";

export interface AddonRow {
  readonly name: string;
  readonly state: AddonState;
  readonly detail?: string;
}

/**
 * What is ready in the cluster at the end of `up`, printed as its last
 * table. `problems` lists, one line each naming the node, class or add-on,
 * what is not as expected; empty means everything is ready.
 */
export interface ClusterReport {
  readonly nodes: readonly NodeRow[];
  readonly gpus: readonly GpuRow[];
  readonly storageClasses: readonly StorageClassRow[];
  readonly addons: readonly AddonRow[];
  readonly registry?: ClusterExpectations["registry"];
  /** Label and taint changes made on this run ("node2: label x removed"). */
  readonly nodeChanges: readonly string[];
  readonly problems: readonly string[];
}
