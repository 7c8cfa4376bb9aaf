import { z } from "zod";
import type { Exec } from "../../../shared/host-io.js";
import { kubectlJson } from "../kubectl.js";
import type { AddonRow } from "./types.js";

const HELM_NAMESPACE = "kube-system";

const helmChartSchema = z.object({
  status: z.object({ jobName: z.string().optional() }).default({}),
});

const conditionSchema = z.object({
  type: z.string(),
  status: z.string(),
  message: z.string().optional(),
});
const jobSchema = z.object({
  status: z
    .object({
      succeeded: z.number().optional(),
      failed: z.number().optional(),
      conditions: z.array(conditionSchema).default([]),
    })
    .default({}),
});

/**
 * One add-on as k3s's helm controller left it: its HelmChart (applied from
 * the auto-deploy folder) and the helm-install Job it runs. "deployed" when
 * the Job completed; "failed" when the Job gave up (condition Failed), with
 * its message; "installing" while it runs or retries (k3s retries a failing
 * install, reported with the number of failed attempts); "missing" while
 * k3s has not applied the HelmChart.
 */
export async function addonStatus(server: Exec, name: string): Promise<AddonRow> {
  const chart = await kubectlJson(
    server,
    ["get", "helmcharts.helm.cattle.io", name, "-n", HELM_NAMESPACE],
    helmChartSchema,
  );
  if (chart.kind === "not-found")
    return { name, state: "missing", detail: "k3s has not applied its HelmChart yet" };
  if (chart.kind === "failed") return { name, state: "missing", detail: chart.problem };
  const jobName = chart.value.status.jobName;
  if (jobName === undefined) return { name, state: "installing", detail: "waiting for the helm controller" };
  const job = await kubectlJson(server, ["get", "jobs.batch", jobName, "-n", HELM_NAMESPACE], jobSchema);
  if (job.kind !== "ok") return { name, state: "installing", detail: `job ${jobName} not found yet` };
  const { succeeded = 0, failed = 0, conditions } = job.value.status;
  const gaveUp = conditions.find((condition) => condition.type === "Failed" && condition.status === "True");
  if (succeeded > 0) return { name, state: "deployed", detail: `job ${jobName} completed` };
  if (gaveUp !== undefined)
    return { name, state: "failed", detail: `job ${jobName} failed: ${gaveUp.message ?? "no message"}` };
  return {
    name,
    state: "installing",
    detail: failed > 0 ? `job ${jobName}: ${failed} failed attempt(s), retrying` : `job ${jobName} running`,
  };
}
