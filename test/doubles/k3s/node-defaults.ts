import type { Registration } from "./protocol.js";

/**
 * The labels the kubelet sets on its Node at registration and reconciles
 * at every start (hostname, os, arch, instance type).
 */
export function kubeletLabels(registration: Registration): Record<string, string> {
  return {
    "beta.kubernetes.io/arch": registration.arch,
    "beta.kubernetes.io/instance-type": "k3s",
    "beta.kubernetes.io/os": "linux",
    "kubernetes.io/arch": registration.arch,
    "kubernetes.io/hostname": registration.hostname,
    "kubernetes.io/os": "linux",
    "node.kubernetes.io/instance-type": "k3s",
  };
}

/** The role labels a k3s server sets on its own Node at every start (etcd only with embedded etcd); none on agents. */
export function roleLabels(role: Registration["role"], embeddedEtcd: boolean): Record<string, string> {
  if (role !== "server") return {};
  return {
    "node-role.kubernetes.io/control-plane": "true",
    "node-role.kubernetes.io/master": "true",
    ...(embeddedEtcd ? { "node-role.kubernetes.io/etcd": "true" } : {}),
  };
}

/** The annotations k3s and the kubelet keep on a Node (addresses refreshed at every start). */
export function nodeAnnotations(registration: Registration): Record<string, string> {
  return {
    ...(registration.externalIp === undefined ? {} : { "k3s.io/external-ip": registration.externalIp }),
    "k3s.io/hostname": registration.hostname,
    "k3s.io/internal-ip": registration.internalIp,
    "node.alpha.kubernetes.io/ttl": "0",
    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
  };
}

/**
 * A Node's labels after a (re-)registration, as k3s leaves them: the labels
 * it had (kept, whoever set them), then the kubelet's own, then every
 * node-label value (k3s re-applies them at each start, overwriting those
 * keys only), then a server's role labels.
 */
export function registeredLabels(
  previous: Readonly<Record<string, string>>,
  registration: Registration,
  embeddedEtcd: boolean,
): Record<string, string> {
  return {
    ...previous,
    ...kubeletLabels(registration),
    ...registration.labels,
    ...roleLabels(registration.role, embeddedEtcd),
  };
}
