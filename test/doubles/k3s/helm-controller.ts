import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { checkHelmChart } from "./helm-chart-check.js";
import { CONFIG_HASH_ANNOTATION, helmInstallJob, installJobName } from "./helm-job.js";
import { recordAt, specOf } from "./kube-object.js";
import { messageOf } from "./fatal.js";
import { error as logError, info } from "./log.js";
import type { ObjectStore } from "./object-store.js";
import { HELM_CHART_CONFIGS, HELM_CHARTS, JOBS } from "./resources.js";

/** How often HelmCharts are reconciled. */
export const HELM_INTERVAL_MS = 2_000;

/**
 * One pass of k3s's helm controller (first server only): for each
 * HelmChart, when its `helm-install-<name>` Job is missing or was made for
 * another spec (the hash of the HelmChart's spec and its HelmChartConfig's,
 * as k3s's configHash), a new Job replaces it, finished at once by
 * helm-chart-check.ts (Complete, or Failed with helm's message; a failed
 * Job stays failed until the spec changes); the HelmChart's `status.jobName`
 * names it. Deleting a HelmChart deletes its Job (owner reference).
 * HelmChartConfigs are only stored. `readStatic` reads
 * `<data-dir>/server/static/<relative>`.
 */
export function reconcileHelmCharts(
  store: ObjectStore,
  readStatic: (relative: string) => Buffer | undefined,
  now: Date,
): void {
  for (const chart of store.list(HELM_CHARTS)) {
    const namespace = chart.metadata.namespace ?? "default";
    const jobName = installJobName(chart.metadata.name);
    const config = store.get(HELM_CHART_CONFIGS, namespace, chart.metadata.name);
    const hash = `SHA256=${createHash("sha256")
      .update(JSON.stringify([specOf(chart), config === undefined ? null : specOf(config)]))
      .digest("hex")
      .toUpperCase()}`;
    const job = store.get(JOBS, namespace, jobName);
    if (job?.metadata.annotations?.[CONFIG_HASH_ANNOTATION] !== hash) {
      if (job !== undefined) store.remove(JOBS, namespace, jobName);
      const check = checkHelmChart(chart["spec"], readStatic);
      store.put(helmInstallJob(chart, hash, check, now), { status: "replace" });
      info(
        `Helm chart ${namespace}/${chart.metadata.name}: job ${jobName} ${check.ok ? `completed (${check.name} ${check.version})` : `failed: ${check.message}`}`,
      );
    }
    if (recordAt(chart["status"])?.["jobName"] !== jobName) {
      store.setStatus(HELM_CHARTS, namespace, chart.metadata.name, { ...recordAt(chart["status"]), jobName });
    }
  }
}

/** A reader of files under `staticDir`; undefined for a missing or unreadable file. */
export function staticFileReader(staticDir: string): (relative: string) => Buffer | undefined {
  return (relative) => {
    try {
      return readFileSync(path.join(staticDir, relative));
    } catch {
      return undefined;
    }
  };
}

/** Reconciles now and every HELM_INTERVAL_MS; returns its stop. */
export function startHelmController(store: ObjectStore, staticDir: string): () => void {
  const readStatic = staticFileReader(staticDir);
  const pass = (): void => {
    try {
      reconcileHelmCharts(store, readStatic, new Date());
    } catch (error) {
      logError(`Failed to reconcile HelmCharts: ${messageOf(error)}`);
    }
  };
  pass();
  const timer = setInterval(pass, HELM_INTERVAL_MS);
  return () => {
    clearInterval(timer);
  };
}
