import { clusterNodes } from "../../../agent/steps/k3s-nodes.js";
import type { Exec } from "../../../shared/host-io.js";
import { addonStatus } from "./addon-status.js";
import { devicePluginNote } from "./device-plugin-status.js";
import { gpuRows, nodeRows } from "./node-rows.js";
import { storageClasses, storageProblems } from "./storage-classes.js";
import type { AddonRow, ClusterExpectations, ClusterReport } from "./types.js";

const POLL_MS = 3_000;

const PLUGIN_NOT_DEPLOYED = "the device plugin is not deployed: the bundle has no k8s-device-plugin image";

/** One look at the cluster through `server`, compared with what the run should have made. */
export async function clusterReport(
  server: Exec,
  expected: ClusterExpectations,
  nodeChanges: readonly string[] = [],
): Promise<ClusterReport> {
  const names = expected.hosts.map((host) => host.name);
  const gpuHosts = expected.hosts.filter((host) => host.vars.gpu).map((host) => host.name);
  const nodes = (await clusterNodes(server))?.items ?? [];
  const problems: string[] = [];
  const nodeTable = nodeRows(names, nodes);
  for (const row of nodeTable) if (!row.ready) problems.push(`node ${row.name} is not Ready`);

  const offered = gpuRows(gpuHosts, nodes);
  const missing = offered.some((row) => row.gpus === undefined);
  const whyNone = !expected.devicePlugin
    ? PLUGIN_NOT_DEPLOYED
    : missing
      ? await devicePluginNote(server)
      : "";
  const gpus = offered.map((row) => (row.gpus === undefined ? { ...row, note: whyNone } : row));
  // Without the device plugin (its image not in the bundle, said when the run began) no GPU is offered: shown, not a problem.
  if (expected.devicePlugin)
    for (const row of gpus)
      if (row.gpus === undefined) problems.push(`GPU node ${row.node}: no nvidia.com/gpu (${whyNone})`);

  const classes = await storageClasses(server);
  if (typeof classes === "string") problems.push(`storage: ${classes}`);
  else problems.push(...storageProblems(classes, expected.storageClasses));

  const addons: AddonRow[] = [];
  for (const name of expected.addons) addons.push(await addonStatus(server, name));
  for (const addon of addons)
    if (addon.state !== "deployed")
      problems.push(`add-on ${addon.name} ${addon.state}: ${addon.detail ?? ""}`);

  return {
    nodes: nodeTable,
    gpus,
    storageClasses: typeof classes === "string" ? [] : classes,
    addons,
    ...(expected.registry === undefined ? {} : { registry: expected.registry }),
    nodeChanges,
    problems,
  };
}

/** Whether waiting longer cannot change the report: everything ready, except add-ons whose install gave up. */
function settled(report: ClusterReport, expected: ClusterExpectations): boolean {
  return (
    report.nodes.every((row) => row.ready) &&
    (!expected.devicePlugin || report.gpus.every((row) => row.gpus !== undefined)) &&
    storageProblems(report.storageClasses, expected.storageClasses).length === 0 &&
    report.addons.every((addon) => addon.state === "deployed" || addon.state === "failed")
  );
}

/**
 * Polls `clusterReport` until everything expected is ready (GPUs offered,
 * storage classes present, add-ons deployed) or can no longer become so,
 * or `timeoutMs` passes; resolves the last report, whose `problems` say
 * what is still missing.
 */
export async function waitForClusterReport(
  server: Exec,
  expected: ClusterExpectations,
  timeoutMs: number,
  nodeChanges: readonly string[] = [],
): Promise<ClusterReport> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await clusterReport(server, expected, nodeChanges);
    if (settled(report, expected) || Date.now() >= deadline) return report;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))),
    );
  }
}
