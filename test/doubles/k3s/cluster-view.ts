import type { ClusterState, NodeRecord } from "./cluster-state.js";
import { advertisedGpus } from "./device-plugin.js";
import { nodeIsReady } from "./node-object.js";
import type { ObjectStore } from "./object-store.js";
import { DAEMON_SETS, RUNTIME_CLASSES } from "./resources.js";
import { podTemplateSpec, type ClusterView, type NodeFacts, type PodSpec } from "./scheduling.js";

/** The datastore as the controllers see it at one moment: nodes, RuntimeClasses and DaemonSet pod specs. */
export interface LiveCluster extends ClusterView {
  readonly daemonSets: readonly PodSpec[];
  /** `nvidia.com/gpu` the node advertises (0: none). */
  gpusOf(name: string): number;
}

export function nodeFacts(record: NodeRecord, now: Date): NodeFacts {
  return {
    name: record.name,
    labels: record.labels,
    taints: record.taints,
    ready: nodeIsReady(record, now),
    runtimes: record.status.runtimes,
    gpus: record.status.gpus,
  };
}

/** A snapshot of the cluster for answering one request. */
export function liveCluster(state: ClusterState, store: ObjectStore, now: Date): LiveCluster {
  const nodes = state.nodes().map((record) => nodeFacts(record, now));
  const runtimeClasses = store.list(RUNTIME_CLASSES).map((object) => ({
    name: object.metadata.name,
    handler: typeof object["handler"] === "string" ? object["handler"] : "",
  }));
  const daemonSets = store
    .list(DAEMON_SETS)
    .map(podTemplateSpec)
    .filter((spec): spec is PodSpec => spec !== undefined);
  return {
    nodes,
    runtimeClasses,
    daemonSets,
    gpusOf(name) {
      const node = nodes.find((item) => item.name === name);
      return node === undefined ? 0 : advertisedGpus(node, daemonSets, runtimeClasses);
    },
  };
}
