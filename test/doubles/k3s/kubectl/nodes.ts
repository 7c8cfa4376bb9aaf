import { z } from "zod";
import { KubectlError, type ApiClient } from "./client.js";

/** The parts of a v1 Node that kubectl reads; everything else is kept for -o json/yaml. */
export const nodeSchema = z
  .object({
    metadata: z
      .object({
        name: z.string(),
        creationTimestamp: z.string().optional(),
        labels: z.record(z.string()).optional(),
      })
      .passthrough(),
    spec: z.object({ unschedulable: z.boolean().optional() }).passthrough().optional(),
    status: z
      .object({
        conditions: z.array(z.object({ type: z.string(), status: z.string() }).passthrough()).optional(),
        addresses: z.array(z.object({ type: z.string(), address: z.string() })).optional(),
        nodeInfo: z
          .object({
            kubeletVersion: z.string(),
            osImage: z.string(),
            kernelVersion: z.string(),
            containerRuntimeVersion: z.string(),
          })
          .partial()
          .optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
export type Node = z.infer<typeof nodeSchema>;

const nodeListSchema = z.object({ items: z.array(nodeSchema) }).passthrough();

export async function listNodes(client: ApiClient): Promise<Node[]> {
  const parsed = nodeListSchema.safeParse(await client.request("GET", "/api/v1/nodes"));
  if (!parsed.success) throw new KubectlError("error: the server returned an invalid NodeList");
  return parsed.data.items;
}

export async function getNode(client: ApiClient, name: string): Promise<Node> {
  const parsed = nodeSchema.safeParse(
    await client.request("GET", `/api/v1/nodes/${encodeURIComponent(name)}`),
  );
  if (!parsed.success) throw new KubectlError("error: the server returned an invalid Node");
  return parsed.data;
}

export async function deleteNode(client: ApiClient, name: string): Promise<void> {
  await client.request("DELETE", `/api/v1/nodes/${encodeURIComponent(name)}`);
}

/** The status of condition `type` ("True", "False", "Unknown"), or undefined. */
export function conditionStatus(node: Node, type: string): string | undefined {
  return node.status?.conditions?.find((condition) => condition.type === type)?.status;
}

/** Whether a node matches a label selector (labelsMatch). */
export function matchesSelector(node: Node, selector: string | undefined): boolean {
  return labelsMatch(node.metadata.labels ?? {}, selector);
}

/** Whether labels match a label selector of `key`, `!key`, `key=value`, `key==value`, `key!=value` terms joined by commas. */
export function labelsMatch(labels: Readonly<Record<string, string>>, selector: string | undefined): boolean {
  if (selector === undefined || selector === "") return true;
  return selector.split(",").every((term) => {
    const notEquals = /^([^!=]+)!=(.*)$/.exec(term);
    if (notEquals !== null) return labels[notEquals[1] ?? ""] !== notEquals[2];
    const equals = /^([^!=]+)==?(.*)$/.exec(term);
    if (equals !== null) return labels[equals[1] ?? ""] === equals[2];
    if (term.startsWith("!")) return !(term.slice(1) in labels);
    return term in labels;
  });
}
