import type { ClusterNode } from "../../../agent/steps/k3s-nodes.js";
import { isReady } from "../../../agent/steps/k3s-nodes.js";
import type { GpuRow, NodeRow } from "./types.js";

const ROLE_PREFIX = "node-role.kubernetes.io/";
export const GPU_RESOURCE = "nvidia.com/gpu";

/** kubectl's ROLES column: the node-role labels, or "worker" when there are none. */
export function nodeRoles(node: ClusterNode): string {
  const roles = Object.keys(node.metadata.labels)
    .filter((key) => key.startsWith(ROLE_PREFIX))
    .map((key) => key.slice(ROLE_PREFIX.length))
    .sort();
  return roles.length === 0 ? "worker" : roles.join(",");
}

/** One row per expected host, in inventory order; a host missing from the cluster is a row that is not ready. */
export function nodeRows(expected: readonly string[], nodes: readonly ClusterNode[]): NodeRow[] {
  const byName = new Map(nodes.map((node) => [node.metadata.name, node]));
  return expected.map((name) => {
    const node = byName.get(name);
    return {
      name,
      roles: node === undefined ? "-" : nodeRoles(node),
      ready: node !== undefined && isReady(node),
    };
  });
}

/** How many GPUs a node offers the scheduler (nvidia.com/gpu allocatable); undefined for none. */
export function allocatableGpus(node: ClusterNode | undefined): number | undefined {
  const quantity = node?.status.allocatable[GPU_RESOURCE];
  if (quantity === undefined || !/^\d+$/.test(quantity)) return undefined;
  const count = Number(quantity);
  return count > 0 ? count : undefined;
}

/** One row per GPU host: the GPUs its node offers; a row without `gpus` gets its `note` from the caller. */
export function gpuRows(gpuHosts: readonly string[], nodes: readonly ClusterNode[]): GpuRow[] {
  const byName = new Map(nodes.map((node) => [node.metadata.name, node]));
  return gpuHosts.map((name) => {
    const gpus = allocatableGpus(byName.get(name));
    return gpus === undefined ? { node: name } : { node: name, gpus };
  });
}
