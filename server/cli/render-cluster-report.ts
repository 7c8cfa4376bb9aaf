import { terminalSafe } from "../../shared/terminal-safe.js";
import type { ClusterReport } from "../cluster/report/types.js";
import { renderTable } from "./table.js";

/**
 * The final table of `up`: what is ready in the cluster, one row per node,
 * GPU node, storage class, add-on and the depot registry. Every cell is made
 * terminal-safe (names and details come from the cluster).
 */
export function renderClusterReport(report: ClusterReport): string {
  const rows: string[][] = [];
  for (const node of report.nodes)
    rows.push(["node", node.name, node.ready ? "Ready" : "NOT READY", node.roles]);
  for (const gpu of report.gpus) {
    rows.push(
      gpu.gpus === undefined
        ? ["gpu", gpu.node, "NONE", gpu.note ?? ""]
        : ["gpu", gpu.node, `${gpu.gpus} GPU${gpu.gpus === 1 ? "" : "s"}`, "nvidia.com/gpu allocatable"],
    );
  }
  for (const storage of report.storageClasses) {
    rows.push(["storage", storage.name, storage.isDefault ? "default" : "available", storage.provisioner]);
  }
  for (const addon of report.addons) {
    rows.push([
      "add-on",
      addon.name,
      addon.state === "deployed" ? "deployed" : addon.state.toUpperCase(),
      addon.detail ?? "",
    ]);
  }
  if (report.registry !== undefined) {
    const { depot, endpoint, images } = report.registry;
    rows.push(["registry", depot, "serving", `${endpoint}, ${images} image(s) seeded from the bundle`]);
  }
  const safe = rows.map((row) => row.map((cell) => terminalSafe(cell)));
  const lines = [renderTable(["WHAT", "NAME", "STATE", "DETAIL"], safe)];
  for (const change of report.nodeChanges) lines.push(`synced ${terminalSafe(change)}`);
  return `${lines.join("\n")}\n`;
}
