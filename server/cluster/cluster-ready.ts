import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import { isIP } from "node:net";
import { parseDocument } from "yaml";
import { clusterNodes, isReady, type ClusterNode } from "../../agent/steps/k3s-nodes.js";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec } from "../../shared/host-io.js";
import type { InventoryHost } from "../inventory/types.js";
import { K3S_API_PORT } from "./install-plan.js";

const KUBECONFIG_ON_SERVER = "/etc/rancher/k3s/k3s.yaml";

/** Where `up` and `groundcrew kubeconfig` keep the cluster's admin kubeconfig (0600). */
export function kubeconfigPath(stateDir: string): string {
  return path.join(stateDir, "kubeconfig.yaml");
}

export interface NodeReport {
  /** Inventory hosts whose node is Ready. */
  readonly ready: readonly string[];
  /** Inventory hosts that are missing from the cluster or not Ready, with why. */
  readonly notReady: readonly string[];
  readonly nodes: readonly ClusterNode[];
}

/** The cluster's nodes as `server` sees them, compared with the hosts expected in it. */
export async function nodeReport(server: Exec, expected: readonly string[]): Promise<NodeReport | undefined> {
  const list = await clusterNodes(server);
  if (list === undefined) return undefined;
  const byName = new Map(list.items.map((node) => [node.metadata.name, node]));
  const ready: string[] = [];
  const notReady: string[] = [];
  for (const name of expected) {
    const node = byName.get(name);
    if (node === undefined) notReady.push(`${name} (not in the cluster)`);
    else if (!isReady(node)) notReady.push(`${name} (not Ready)`);
    else ready.push(name);
  }
  return { ready, notReady, nodes: list.items };
}

/**
 * Polls the first server until every expected host's node is Ready, or
 * `timeoutMs` passes. Resolves the last report; throws CLUSTER_NOT_READY
 * naming the nodes that are not Ready (or that the API never answered).
 */
export async function waitForNodes(
  server: Exec,
  expected: readonly string[],
  timeoutMs: number,
): Promise<NodeReport> {
  const deadline = Date.now() + timeoutMs;
  let last: NodeReport | undefined;
  for (;;) {
    last = (await nodeReport(server, expected).catch(() => undefined)) ?? last;
    if (last !== undefined && last.notReady.length === 0) return last;
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
  const why =
    last === undefined
      ? "the Kubernetes API on the first server did not answer"
      : `not Ready: ${last.notReady.join(", ")}`;
  throw new GroundcrewError("CLUSTER_NOT_READY", `after ${Math.round(timeoutMs / 1000)} s, ${why}`);
}

/**
 * The first server's admin kubeconfig with its server address rewritten from
 * loopback to `server`'s inventory address, so it works from the provisioner.
 * Secret (it holds the admin credentials): never printed by groundcrew unless asked.
 * Throws KUBECONFIG_UNAVAILABLE when the file cannot be read or parsed.
 */
export async function fetchKubeconfig(root: Exec, server: InventoryHost): Promise<string> {
  const result = await root.run(["cat", KUBECONFIG_ON_SERVER], { timeoutMs: 20_000 });
  if (result.code !== 0) {
    throw new GroundcrewError(
      "KUBECONFIG_UNAVAILABLE",
      `${server.name}: cannot read ${KUBECONFIG_ON_SERVER}: ${result.stderr.trim()}`,
    );
  }
  const document = parseDocument(result.stdout);
  const clusters = document.get("clusters");
  if (document.errors.length > 0 || clusters === undefined) {
    throw new GroundcrewError(
      "KUBECONFIG_UNAVAILABLE",
      `${server.name}: ${KUBECONFIG_ON_SERVER} is not a kubeconfig`,
    );
  }
  const host = isIP(server.address) === 6 ? `[${server.address}]` : server.address;
  const url = `https://${host}:${K3S_API_PORT}`;
  let rewritten = 0;
  const items = document.getIn(["clusters"]);
  const count =
    items !== null && typeof items === "object" && "items" in items && Array.isArray(items.items)
      ? items.items.length
      : 0;
  for (let index = 0; index < count; index += 1) {
    if (document.hasIn(["clusters", index, "cluster", "server"])) {
      document.setIn(["clusters", index, "cluster", "server"], url);
      rewritten += 1;
    }
  }
  if (rewritten === 0) {
    throw new GroundcrewError(
      "KUBECONFIG_UNAVAILABLE",
      `${server.name}: ${KUBECONFIG_ON_SERVER} names no cluster server`,
    );
  }
  return document.toString();
}

/** Writes the kubeconfig where `kubeconfigPath` says, mode 0600. */
export async function saveKubeconfig(stateDir: string, text: string): Promise<string> {
  const file = kubeconfigPath(stateDir);
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}
