import {
  DAEMONSET_TOLERATIONS,
  fitsNode,
  type NodeFacts,
  type PodSpec,
  type RuntimeClassFacts,
} from "./scheduling.js";

/** The runtime handlers of NVIDIA's container runtime that k3s configures (containerd-config.ts). */
export const NVIDIA_HANDLERS: readonly string[] = ["nvidia", "nvidia-experimental", "nvidia-cdi"];

/** Whether a pod spec runs NVIDIA's device plugin: a container image whose name contains `k8s-device-plugin`. */
export function isDevicePlugin(spec: PodSpec): boolean {
  return spec.containers.some((container) => container.image?.includes("k8s-device-plugin") === true);
}

/**
 * The runtime handler a pod of `spec` runs under: its RuntimeClass's
 * handler, or `runc` without one; undefined when the RuntimeClass does not
 * exist (the API server refuses such pods).
 */
export function runtimeHandler(
  spec: PodSpec,
  runtimeClasses: readonly RuntimeClassFacts[],
): string | undefined {
  if (spec.runtimeClassName === undefined) return "runc";
  return runtimeClasses.find((item) => item.name === spec.runtimeClassName)?.handler;
}

/**
 * Whether the node's containerd can run a pod of `spec`: its handler is
 * configured there ("no runtime for X is configured" otherwise), and NVIDIA's
 * device plugin needs an NVIDIA handler (under runc it cannot reach the
 * driver and crash-loops).
 */
export function runtimeWorks(
  spec: PodSpec,
  node: NodeFacts,
  runtimeClasses: readonly RuntimeClassFacts[],
): boolean {
  const handler = runtimeHandler(spec, runtimeClasses);
  if (handler === undefined || !node.runtimes.includes(handler)) return false;
  return !isDevicePlugin(spec) || NVIDIA_HANDLERS.includes(handler);
}

/** Whether a pod of `spec` on `node` is running and ready: the node is Ready and the runtime works. */
export function podRunsOn(
  spec: PodSpec,
  node: NodeFacts,
  runtimeClasses: readonly RuntimeClassFacts[],
): boolean {
  return node.ready && runtimeWorks(spec, node, runtimeClasses);
}

/**
 * The `nvidia.com/gpu` a node advertises: its GPU count when a DaemonSet of
 * NVIDIA's device plugin is placed there (nodeSelector, taints) and its
 * runtime works there; 0 otherwise (no plugin, no GPU, or a plugin that
 * crash-loops). `daemonSets` are the pod specs of every DaemonSet.
 */
export function advertisedGpus(
  node: NodeFacts,
  daemonSets: readonly PodSpec[],
  runtimeClasses: readonly RuntimeClassFacts[],
): number {
  const served = daemonSets.some(
    (spec) =>
      isDevicePlugin(spec) &&
      fitsNode(spec, node, DAEMONSET_TOLERATIONS) &&
      runtimeWorks(spec, node, runtimeClasses),
  );
  return served ? node.gpus : 0;
}
