import type { NodeRecord } from "./cluster-state.js";
import type { NodeStatus } from "./protocol.js";
import { binaryQuantity } from "./quantities.js";
import { CONTAINERD_VERSION, K3S_VERSION } from "./version.js";

/** A node is Ready while its last heartbeat is younger than this (nodes heartbeat every 5 s). */
export const READY_WINDOW_MS = 20_000;

/** Whether a node counts as Ready: its last heartbeat is under READY_WINDOW_MS old. */
export function nodeIsReady(node: NodeRecord, now: Date): boolean {
  return now.getTime() - Date.parse(node.lastHeartbeat) < READY_WINDOW_MS;
}

/** The extended resource NVIDIA's device plugin advertises. */
export const GPU_RESOURCE = "nvidia.com/gpu";

/**
 * A `v1 Node` as the Kubernetes API returns it, for one node of the
 * datastore: its labels, annotations and taints as stored, the Ready
 * condition from the last heartbeat, addresses, node info, and capacity and
 * allocatable from the node's last report (nodeResources), with `gpus`
 * `nvidia.com/gpu` when NVIDIA's device plugin runs there (0: none).
 */
export function nodeObject(node: NodeRecord, now: Date, gpus: number): Record<string, unknown> {
  const ready = nodeIsReady(node, now);
  const pressure = (type: string, reason: string, message: string): Record<string, string> => ({
    type,
    status: ready ? "False" : "Unknown",
    lastHeartbeatTime: node.lastHeartbeat,
    lastTransitionTime: node.createdAt,
    reason: ready ? reason : "NodeStatusUnknown",
    message: ready ? message : "Kubelet stopped posting node status.",
  });
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: node.name,
      uid: node.uid,
      creationTimestamp: node.createdAt,
      labels: sorted(node.labels),
      annotations: sorted(node.annotations),
    },
    spec: {
      podCIDR: node.podCidr,
      podCIDRs: [node.podCidr],
      providerID: `k3s://${node.name}`,
      ...(node.taints.length === 0 ? {} : { taints: node.taints }),
    },
    status: {
      addresses: [
        { type: "InternalIP", address: node.internalIp },
        ...(node.externalIp === undefined ? [] : [{ type: "ExternalIP", address: node.externalIp }]),
        { type: "Hostname", address: node.hostname },
      ],
      conditions: [
        pressure("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        pressure("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        pressure("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        {
          type: "Ready",
          status: ready ? "True" : "Unknown",
          lastHeartbeatTime: node.lastHeartbeat,
          lastTransitionTime: node.createdAt,
          reason: ready ? "KubeletReady" : "NodeStatusUnknown",
          message: ready ? "kubelet is posting ready status" : "Kubelet stopped posting node status.",
        },
      ],
      nodeInfo: {
        architecture: node.arch,
        bootID: "",
        containerRuntimeVersion: CONTAINERD_VERSION,
        kernelVersion: node.kernelVersion,
        kubeProxyVersion: K3S_VERSION,
        kubeletVersion: K3S_VERSION,
        machineID: "",
        operatingSystem: "linux",
        osImage: node.osImage,
        systemUUID: "",
      },
      ...nodeResources(node.status, gpus),
    },
  };
}

/**
 * `status.capacity` and `status.allocatable` as a k3s kubelet reports them:
 * cpu, memory (all allocatable: k3s reserves none and its hard eviction
 * thresholds are disk-only), pods 110, ephemeral-storage (allocatable less
 * the 5% `nodefs.available` eviction threshold), no hugepages, and
 * `nvidia.com/gpu` when `gpus` > 0.
 */
export function nodeResources(
  status: NodeStatus,
  gpus: number,
): { capacity: Record<string, string>; allocatable: Record<string, string> } {
  const storage = status.ephemeralStorageBytes;
  const common = {
    cpu: String(status.cpu),
    "hugepages-1Gi": "0",
    "hugepages-2Mi": "0",
    memory: binaryQuantity(status.memoryBytes),
    ...(gpus > 0 ? { [GPU_RESOURCE]: String(gpus) } : {}),
    pods: "110",
  };
  return {
    capacity: { ...common, "ephemeral-storage": binaryQuantity(storage) },
    allocatable: { ...common, "ephemeral-storage": binaryQuantity(storage - Math.floor(storage * 0.05)) },
  };
}

function sorted(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
