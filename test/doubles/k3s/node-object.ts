import type { NodeRecord } from "./cluster-state.js";
import { CONTAINERD_VERSION, K3S_VERSION } from "./version.js";

/** A node is Ready while its last heartbeat is younger than this (nodes heartbeat every 5 s). */
export const READY_WINDOW_MS = 20_000;

/**
 * A `v1 Node` as the Kubernetes API returns it, for one node of the
 * datastore: the registration labels plus the ones k3s and the kubelet add
 * (hostname, os, arch, instance-type, and on servers node-role
 * control-plane/master, plus etcd when the cluster has embedded etcd),
 * taints, the Ready condition from the last heartbeat, addresses and node info.
 */
export function nodeObject(node: NodeRecord, embeddedEtcd: boolean, now: Date): Record<string, unknown> {
  const ready = now.getTime() - Date.parse(node.lastHeartbeat) < READY_WINDOW_MS;
  const labels: Record<string, string> = {
    "beta.kubernetes.io/arch": node.arch,
    "beta.kubernetes.io/instance-type": "k3s",
    "beta.kubernetes.io/os": "linux",
    "kubernetes.io/arch": node.arch,
    "kubernetes.io/hostname": node.hostname,
    "kubernetes.io/os": "linux",
    "node.kubernetes.io/instance-type": "k3s",
    ...node.labels,
  };
  if (node.role === "server") {
    labels["node-role.kubernetes.io/control-plane"] = "true";
    labels["node-role.kubernetes.io/master"] = "true";
    if (embeddedEtcd) labels["node-role.kubernetes.io/etcd"] = "true";
  }
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
      labels: Object.fromEntries(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))),
      annotations: {
        "k3s.io/internal-ip": node.internalIp,
        "k3s.io/hostname": node.hostname,
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
      },
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
      capacity: { cpu: "2", memory: "2048Mi", pods: "110" },
      allocatable: { cpu: "2", memory: "2048Mi", pods: "110" },
    },
  };
}

/** A `v1 NodeList` of every node. */
export function nodeList(
  nodes: readonly NodeRecord[],
  embeddedEtcd: boolean,
  now: Date,
): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "NodeList",
    metadata: { resourceVersion: String(now.getTime()) },
    items: nodes.map((node) => nodeObject(node, embeddedEtcd, now)),
  };
}
