import { podRunsOn } from "./device-plugin.js";
import { recordAt, type KubeObject } from "./kube-object.js";
import { DAEMONSET_TOLERATIONS, fitsNode, podTemplateSpec, type ClusterView } from "./scheduling.js";

/**
 * An object as the API shows it now: DaemonSets and Deployments get the
 * status their controllers would report for the cluster as it is (the
 * double runs no pods: a pod "runs" where it fits and its runtime works,
 * device-plugin.ts); every other object is returned as stored.
 */
export function withLiveStatus(object: KubeObject, view: ClusterView, now: Date): KubeObject {
  if (object.apiVersion !== "apps/v1") return object;
  if (object.kind === "DaemonSet") return { ...object, status: daemonSetStatus(object, view) };
  if (object.kind === "Deployment") return { ...object, status: deploymentStatus(object, view, now) };
  return object;
}

/** One pod per node that fits (nodeSelector, taints with the DaemonSet tolerations); ready where it runs. */
function daemonSetStatus(object: KubeObject, view: ClusterView): Record<string, unknown> {
  const spec = podTemplateSpec(object);
  const placed =
    spec === undefined ? [] : view.nodes.filter((node) => fitsNode(spec, node, DAEMONSET_TOLERATIONS));
  const ready =
    spec === undefined ? 0 : placed.filter((node) => podRunsOn(spec, node, view.runtimeClasses)).length;
  return {
    currentNumberScheduled: placed.length,
    desiredNumberScheduled: placed.length,
    numberMisscheduled: 0,
    numberReady: ready,
    observedGeneration: object.metadata["generation"] ?? 1,
    ...(placed.length > 0 ? { updatedNumberScheduled: placed.length } : {}),
    ...(ready > 0 ? { numberAvailable: ready } : {}),
    ...(placed.length > ready ? { numberUnavailable: placed.length - ready } : {}),
  };
}

/** Every replica ready when some node fits the pods and runs them; none otherwise. */
function deploymentStatus(object: KubeObject, view: ClusterView, now: Date): Record<string, unknown> {
  const wanted = recordAt(object["spec"])?.["replicas"];
  const replicas = typeof wanted === "number" ? wanted : 1;
  const spec = podTemplateSpec(object);
  const runs =
    spec !== undefined &&
    view.nodes.some((node) => fitsNode(spec, node) && podRunsOn(spec, node, view.runtimeClasses));
  const ready = runs ? replicas : 0;
  const time = now.toISOString();
  const available = ready >= replicas;
  return {
    observedGeneration: object.metadata["generation"] ?? 1,
    replicas,
    updatedReplicas: replicas,
    ...(ready > 0 ? { readyReplicas: ready, availableReplicas: ready } : {}),
    ...(replicas > ready ? { unavailableReplicas: replicas - ready } : {}),
    conditions: [
      {
        type: "Available",
        status: available ? "True" : "False",
        lastUpdateTime: time,
        lastTransitionTime: time,
        reason: available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
        message: available
          ? "Deployment has minimum availability."
          : "Deployment does not have minimum availability.",
      },
      {
        type: "Progressing",
        status: "True",
        lastUpdateTime: time,
        lastTransitionTime: time,
        reason: "NewReplicaSetAvailable",
        message: `ReplicaSet "${object.metadata.name}" has successfully progressed.`,
      },
    ],
  };
}
