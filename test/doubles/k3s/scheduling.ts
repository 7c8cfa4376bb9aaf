import { z } from "zod";
import { recordAt, type KubeObject } from "./kube-object.js";
import type { Taint } from "./labels.js";

const tolerationSchema = z
  .object({
    key: z.string().optional(),
    operator: z.enum(["Exists", "Equal"]).optional(),
    value: z.string().optional(),
    effect: z.string().optional(),
  })
  .passthrough();
export type Toleration = z.infer<typeof tolerationSchema>;

/** The parts of a pod spec that decide where its pods go and whether they run. */
export const podSpecSchema = z
  .object({
    nodeSelector: z.record(z.string()).optional(),
    tolerations: z.array(tolerationSchema).optional(),
    runtimeClassName: z.string().optional(),
    containers: z.array(z.object({ image: z.string().optional() }).passthrough()).default([]),
  })
  .passthrough();
export type PodSpec = z.infer<typeof podSpecSchema>;

/** What the scheduler and kubelet know of a node. */
export interface NodeFacts {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly Taint[];
  readonly ready: boolean;
  /** Runtime handlers of its containerd config (runc always). */
  readonly runtimes: readonly string[];
  /** GPUs its `nvidia-smi -L` lists. */
  readonly gpus: number;
}

export interface RuntimeClassFacts {
  readonly name: string;
  readonly handler: string;
}

/** The cluster as workload status and the device plugin see it. */
export interface ClusterView {
  readonly nodes: readonly NodeFacts[];
  readonly runtimeClasses: readonly RuntimeClassFacts[];
}

/** The tolerations the DaemonSet controller adds to every DaemonSet pod. */
export const DAEMONSET_TOLERATIONS: readonly Toleration[] = [
  { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" },
  { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" },
  { key: "node.kubernetes.io/disk-pressure", operator: "Exists", effect: "NoSchedule" },
  { key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule" },
  { key: "node.kubernetes.io/pid-pressure", operator: "Exists", effect: "NoSchedule" },
  { key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" },
];

/** A workload's pod template spec (`spec.template.spec`); undefined when it has none that parses. */
export function podTemplateSpec(workload: KubeObject): PodSpec | undefined {
  const template = recordAt(recordAt(workload["spec"])?.["template"]);
  const parsed = podSpecSchema.safeParse(template?.["spec"]);
  return parsed.success ? parsed.data : undefined;
}

/** Whether node labels satisfy a nodeSelector: every key present with that exact value. */
export function matchesNodeSelector(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value);
}

/** Kubernetes's Toleration.ToleratesTaint: effect (empty: any), key (empty: any), then Exists or an equal value. */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== "" && toleration.effect !== taint.effect)
    return false;
  if (toleration.key !== undefined && toleration.key !== "" && toleration.key !== taint.key) return false;
  if (toleration.operator === "Exists") return true;
  return (toleration.value ?? "") === (taint.value ?? "");
}

/**
 * Whether a pod of `spec` can be placed on `node`: its nodeSelector matches
 * and every NoSchedule / NoExecute taint is tolerated (PreferNoSchedule
 * only steers). Affinity is not modelled.
 */
export function fitsNode(
  spec: PodSpec,
  node: NodeFacts,
  extraTolerations: readonly Toleration[] = [],
): boolean {
  if (!matchesNodeSelector(spec.nodeSelector, node.labels)) return false;
  const tolerations = [...(spec.tolerations ?? []), ...extraTolerations];
  return node.taints
    .filter((taint) => taint.effect !== "PreferNoSchedule")
    .every((taint) => tolerations.some((toleration) => toleratesTaint(toleration, taint)));
}
