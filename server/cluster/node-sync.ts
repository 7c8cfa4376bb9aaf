import type { ClusterNode } from "../../agent/steps/k3s-nodes.js";
import type { Exec } from "../../shared/host-io.js";
import type { InventoryHost } from "../inventory/types.js";
import { kubectlChange } from "./kubectl.js";
import { nodeLabels } from "./node-labels.js";

/** Annotations on each node naming what groundcrew set, so a label or taint dropped from the inventory is removed on the next run. */
export const MANAGED_LABELS_ANNOTATION = "groundcrew.io/managed-labels";
export const MANAGED_TAINTS_ANNOTATION = "groundcrew.io/managed-taints";

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: string;
}

/** A taint as the inventory gives it (`key=value:Effect` or `key:Effect`, validated there). */
export function parseTaint(text: string): Taint {
  const effectAt = text.lastIndexOf(":");
  const head = text.slice(0, effectAt);
  const valueAt = head.indexOf("=");
  return valueAt < 0
    ? { key: head, effect: text.slice(effectAt + 1) }
    : { key: head.slice(0, valueAt), value: head.slice(valueAt + 1), effect: text.slice(effectAt + 1) };
}

/** A taint's identity on a node: the API keeps one taint per key and effect. */
const taintId = (taint: Taint): string => `${taint.key}:${taint.effect}`;
const taintText = (taint: Taint): string =>
  `${taint.key}${taint.value === undefined || taint.value === "" ? "" : `=${taint.value}`}:${taint.effect}`;

/** The string list a managed-* annotation holds; anything else (absent, edited by hand) counts as empty. */
function managedList(node: ClusterNode, annotation: string): string[] {
  const text = node.metadata.annotations[annotation];
  if (text === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === "string") : [];
  } catch {
    return [];
  }
}

export interface NodePatch {
  /** A JSON merge patch for the node (RFC 7386), or undefined when the node is already as wanted. */
  readonly patch?: Record<string, unknown>;
  /** What the patch changes, for humans ("label gpu=a100 set"). Bookkeeping annotations are not listed. */
  readonly changes: readonly string[];
}

/**
 * The patch that brings one node's labels and taints to what the inventory
 * says now (own labels, group-derived ones, taints). k3s applies node-label
 * and node-taint only when a node first registers, so later inventory edits
 * reach the node only this way. Labels and taints groundcrew set before
 * (listed in its managed-* annotations) and no longer wanted are removed;
 * everything else on the node (k3s's, the kubelet's, an operator's) stays.
 * Pure.
 */
export function nodePatch(host: InventoryHost, node: ClusterNode): NodePatch {
  const changes: string[] = [];
  const wantedLabels = nodeLabels(host).labels;
  const labels: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(wantedLabels)) {
    if (node.metadata.labels[key] === value) continue;
    labels[key] = value;
    changes.push(`label ${key}=${value} set`);
  }
  for (const key of managedList(node, MANAGED_LABELS_ANNOTATION)) {
    if (key in wantedLabels || node.metadata.labels[key] === undefined) continue;
    labels[key] = null;
    changes.push(`label ${key} removed`);
  }

  const wantedTaints = host.vars.taints.map(parseTaint);
  const wantedIds = new Set(wantedTaints.map(taintId));
  const formerIds = new Set(managedList(node, MANAGED_TAINTS_ANNOTATION));
  const current = node.spec.taints ?? [];
  const kept = current.filter((taint) => !wantedIds.has(taintId(taint)) && !formerIds.has(taintId(taint)));
  const next = [...kept, ...wantedTaints];
  const currentTexts = new Set(current.map(taintText));
  const nextTexts = new Set(next.map(taintText));
  for (const taint of next)
    if (!currentTexts.has(taintText(taint))) changes.push(`taint ${taintText(taint)} set`);
  for (const taint of current)
    if (!nextTexts.has(taintText(taint))) changes.push(`taint ${taintText(taint)} removed`);
  const taintsChange =
    currentTexts.size !== nextTexts.size || [...nextTexts].some((text) => !currentTexts.has(text));

  const annotations: Record<string, string> = {};
  const labelKeys = JSON.stringify(Object.keys(wantedLabels).sort());
  const taintKeys = JSON.stringify([...wantedIds].sort());
  if (node.metadata.annotations[MANAGED_LABELS_ANNOTATION] !== labelKeys)
    annotations[MANAGED_LABELS_ANNOTATION] = labelKeys;
  if (node.metadata.annotations[MANAGED_TAINTS_ANNOTATION] !== taintKeys)
    annotations[MANAGED_TAINTS_ANNOTATION] = taintKeys;

  const metadata = {
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  const patch = {
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
    ...(taintsChange ? { spec: { taints: next } } : {}),
  };
  return Object.keys(patch).length > 0 ? { patch, changes } : { changes };
}

/**
 * Applies `nodePatch` to every host's node through `k3s kubectl patch` on a
 * server. Resolves the changes made ("node2: label x removed") and the
 * problems (a node missing, a patch refused), each naming the node.
 */
export async function syncNodeMetadata(
  server: Exec,
  hosts: readonly InventoryHost[],
  nodes: readonly ClusterNode[],
): Promise<{ changes: string[]; problems: string[] }> {
  const byName = new Map(nodes.map((node) => [node.metadata.name, node]));
  const changes: string[] = [];
  const problems: string[] = [];
  for (const host of hosts) {
    const node = byName.get(host.name);
    if (node === undefined) {
      problems.push(`${host.name}: no such node, its labels and taints were not synced`);
      continue;
    }
    const wanted = nodePatch(host, node);
    if (wanted.patch === undefined) continue;
    const refused = await kubectlChange(server, [
      "patch",
      "node",
      host.name,
      "--type=merge",
      "-p",
      JSON.stringify(wanted.patch),
    ]);
    if (refused === undefined) changes.push(...wanted.changes.map((change) => `${host.name}: ${change}`));
    else problems.push(`${host.name}: labels and taints not synced: ${refused}`);
  }
  return { changes, problems };
}
