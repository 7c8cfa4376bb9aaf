import type { InventoryHost } from "../inventory/types.js";
import { GPU_NODE_LABEL } from "./manifests/device-plugin.js";

/** A Kubernetes label name segment: alphanumerics, '-', '_', '.', at most 63, alphanumeric at both ends. */
const LABEL_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/**
 * The node labels k3s registers a host with: the inventory's own labels,
 * then one per inventory group, as workloads select nodes by group:
 * `nodetype=<first group>` and `groundcrew.io/group.<group>=true` for each
 * group; `nvidia.com/gpu.present=true` on GPU hosts (the device plugin's
 * node selector). A group whose name cannot be a label is left out (and
 * returned, to be reported); the inventory's own labels win over derived ones.
 */
export function nodeLabels(host: InventoryHost): { labels: Record<string, string>; skippedGroups: string[] } {
  const derived: Record<string, string> = {};
  const skippedGroups: string[] = [];
  for (const group of host.groups) {
    if (!LABEL_NAME.test(group) || group.length > 49) {
      skippedGroups.push(group);
      continue;
    }
    derived["nodetype"] ??= group;
    derived[`groundcrew.io/group.${group}`] = "true";
  }
  if (host.vars.gpu) derived[GPU_NODE_LABEL.key] = GPU_NODE_LABEL.value;
  return { labels: { ...derived, ...host.vars.labels }, skippedGroups };
}

/** `key=value` as k3s's `node-label` takes it. */
export function labelArgs(labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}
