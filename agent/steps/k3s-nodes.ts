import { z } from "zod";
import type { Exec } from "../../shared/host-io.js";
import { tryCommand } from "../runner/host-calls.js";
import { K3S } from "./k3s-files.js";

const nodeListSchema = z.object({
  items: z.array(
    z.object({
      metadata: z.object({
        name: z.string(),
        labels: z.record(z.string(), z.string()).default({}),
        annotations: z.record(z.string(), z.string()).default({}),
      }),
      spec: z
        .object({
          taints: z
            .array(z.object({ key: z.string(), value: z.string().optional(), effect: z.string() }))
            .optional(),
        })
        .default({}),
      status: z
        .object({
          conditions: z.array(z.object({ type: z.string(), status: z.string() })).default([]),
          /** Resources the scheduler may hand out, as quantities ("8", "32Gi"); extended resources such as nvidia.com/gpu too. */
          allocatable: z.record(z.string(), z.string()).default({}),
        })
        .default({}),
    }),
  ),
});
export type NodeList = z.infer<typeof nodeListSchema>;
export type ClusterNode = NodeList["items"][number];

export function isReady(node: ClusterNode): boolean {
  return node.status.conditions.some(
    (condition) => condition.type === "Ready" && condition.status === "True",
  );
}

/** Parses `kubectl get nodes -o json`; undefined when it is not a NodeList. */
export function parseNodeList(text: string): NodeList | undefined {
  try {
    const parsed = nodeListSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The cluster's nodes as this server sees them (`k3s kubectl get nodes -o json`); undefined when the API does not answer. */
export async function clusterNodes(exec: Exec): Promise<NodeList | undefined> {
  const result = await tryCommand(exec, [K3S.binary, "kubectl", "get", "nodes", "-o", "json"], {
    timeoutMs: 20_000,
  });
  return result.code === 0 ? parseNodeList(result.stdout) : undefined;
}
