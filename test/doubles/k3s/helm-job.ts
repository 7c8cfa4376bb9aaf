import type { ChartCheck } from "./helm-chart-check.js";
import { specOf, type KubeObject } from "./kube-object.js";
import { apiVersionOf, HELM_CHARTS, JOBS } from "./resources.js";

/** The annotation holding the hash of the HelmChart (and HelmChartConfig) a job was made for. */
export const CONFIG_HASH_ANNOTATION = "helmcharts.helm.cattle.io/configHash";
export const CHART_LABEL = "helmcharts.helm.cattle.io/chart";
const KLIPPER_HELM_IMAGE = "rancher/klipper-helm:v0.9.8-build20250709";

/** The name of a HelmChart's install job, as k3s's helm controller names it. */
export function installJobName(chart: string): string {
  return `helm-install-${chart}`;
}

/**
 * The `helm-install-<name>` Job k3s's helm controller makes for a HelmChart
 * (in its namespace, owned by it, carrying the config hash), finished as
 * the double decides: Complete (`succeeded: 1`) when the chart could be had
 * offline, else Failed (`failed: 1`) with helm's message. k3s's job retries
 * (backoffLimit 1000) rather than failing at once: clients should take
 * `failed >= 1` as the failure.
 */
export function helmInstallJob(
  chart: KubeObject,
  configHash: string,
  check: ChartCheck,
  now: Date,
): KubeObject {
  const spec = specOf(chart);
  const name = chart.metadata.name;
  const time = now.toISOString();
  const text = (key: string): string => (typeof spec[key] === "string" ? spec[key] : "");
  const env = [
    { name: "NAME", value: name },
    { name: "VERSION", value: text("version") },
    { name: "REPO", value: text("repo") },
    { name: "HELM_DRIVER", value: "secret" },
    { name: "CHART_NAMESPACE", value: chart.metadata.namespace ?? "default" },
    { name: "CHART", value: text("chart") },
    { name: "TARGET_NAMESPACE", value: text("targetNamespace") || (chart.metadata.namespace ?? "default") },
  ];
  const condition = (type: string, reason: string, message: string): Record<string, string> => ({
    type,
    status: "True",
    lastProbeTime: time,
    lastTransitionTime: time,
    reason,
    message,
  });
  return {
    apiVersion: apiVersionOf(JOBS),
    kind: JOBS.kind,
    metadata: {
      name: installJobName(name),
      namespace: chart.metadata.namespace ?? "default",
      labels: { [CHART_LABEL]: name },
      annotations: { [CONFIG_HASH_ANNOTATION]: configHash },
      ownerReferences: [
        {
          apiVersion: apiVersionOf(HELM_CHARTS),
          kind: HELM_CHARTS.kind,
          name,
          uid: chart.metadata.uid ?? "",
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      backoffLimit: 1000,
      completions: 1,
      parallelism: 1,
      template: {
        metadata: { labels: { [CHART_LABEL]: name } },
        spec: {
          restartPolicy: "OnFailure",
          serviceAccountName: `helm-${name}`,
          containers: [{ name: "helm", image: KLIPPER_HELM_IMAGE, args: ["install"], env }],
        },
      },
    },
    status: check.ok
      ? {
          startTime: time,
          completionTime: time,
          succeeded: 1,
          ready: 0,
          conditions: [
            condition(
              "SuccessCriteriaMet",
              "CompletionsReached",
              "Reached expected number of succeeded pods",
            ),
            condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
          ],
        }
      : {
          startTime: time,
          failed: 1,
          ready: 0,
          conditions: [
            condition("FailureTarget", "BackoffLimitExceeded", check.message),
            condition("Failed", "BackoffLimitExceeded", check.message),
          ],
        },
  };
}
