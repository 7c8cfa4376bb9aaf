import { stringify } from "yaml";
import { KubectlError } from "./client.js";
import { humanDuration } from "./durations.js";
import { conditionStatus, type Node } from "./nodes.js";

/**
 * Nodes as `kubectl get` prints them: -o json (one Node, or a `List` with
 * 4-space indent like kubectl), -o yaml, -o name, -o wide, or the table
 * NAME STATUS ROLES AGE VERSION. Other formats are not implemented.
 */
export function formatNodes(
  nodes: readonly Node[],
  output: string | undefined,
  single: boolean,
  noHeaders: boolean,
  now: Date,
): string {
  const asList = { apiVersion: "v1", kind: "List", items: nodes, metadata: { resourceVersion: "" } };
  const document = single && nodes.length === 1 ? nodes[0] : asList;
  switch (output) {
    case "json":
      return `${JSON.stringify(document, null, 4)}\n`;
    case "yaml":
      return stringify(document);
    case "name":
      return nodes.map((node) => `node/${node.metadata.name}\n`).join("");
    case undefined:
    case "wide":
      return table(nodes, output === "wide", noHeaders, now);
    default:
      throw new KubectlError(`error: output format "${output}" is not implemented by the test double`);
  }
}

function table(nodes: readonly Node[], wide: boolean, noHeaders: boolean, now: Date): string {
  const rows = nodes.map((node) => {
    const ready = conditionStatus(node, "Ready") === "True" ? "Ready" : "NotReady";
    const status = node.spec?.unschedulable === true ? `${ready},SchedulingDisabled` : ready;
    const roles =
      Object.keys(node.metadata.labels ?? {})
        .filter((key) => key.startsWith("node-role.kubernetes.io/"))
        .map((key) => key.slice("node-role.kubernetes.io/".length))
        .sort()
        .join(",") || "<none>";
    const created = node.metadata.creationTimestamp;
    const age = created === undefined ? "<unknown>" : humanDuration(now.getTime() - Date.parse(created));
    const info = node.status?.nodeInfo;
    const row = [node.metadata.name, status, roles, age, info?.kubeletVersion ?? ""];
    if (wide) {
      const address = (type: string): string =>
        node.status?.addresses?.find((item) => item.type === type)?.address ?? "<none>";
      row.push(
        address("InternalIP"),
        address("ExternalIP"),
        info?.osImage ?? "",
        info?.kernelVersion ?? "",
        info?.containerRuntimeVersion ?? "",
      );
    }
    return row;
  });
  const header = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"];
  if (wide) header.push("INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME");
  const all = noHeaders ? rows : [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  return all
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd((widths[column] ?? 0) + 3)))
        .join(""),
    )
    .map((line) => `${line}\n`)
    .join("");
}
