import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checkHelmChart } from "../doubles/k3s/helm-chart-check.js";
import { reconcileHelmCharts } from "../doubles/k3s/helm-controller.js";
import type { KubeObject } from "../doubles/k3s/kube-object.js";
import { ObjectStore } from "../doubles/k3s/object-store.js";
import { HELM_CHART_CONFIGS, HELM_CHARTS, JOBS } from "../doubles/k3s/resources.js";
import { tarFiles } from "../doubles/k3s/tar-entries.js";
import { tarBytes } from "../support/registry-tar.js";

/** A chart as `helm package` lays it out: <name>/Chart.yaml and the rest, tarred and gzipped. */
function chartTgz(name: string, chartYaml = `apiVersion: v2\nname: ${name}\nversion: 1.2.3\n`): Buffer {
  return gzipSync(
    tarBytes([
      { name: `${name}/Chart.yaml`, body: chartYaml },
      { name: `${name}/templates`, type: "dir" },
      { name: `${name}/values.yaml`, body: "replicas: 1\n" },
    ]),
  );
}

const noStatic = (): Buffer | undefined => undefined;
const STATIC_URL = "https://%{KUBERNETES_API}%/static/charts/groundcrew-big-0123456789ab.tgz";

describe("k3s double: can helm get a chart offline", () => {
  it("reads tar archives: regular files with their full names, long names included", () => {
    const longName = `${"d".repeat(120)}/Chart.yaml`;
    const files = tarFiles(
      tarBytes([
        { name: "a/b.txt", body: "hi" },
        { name: "a", type: "dir" },
        { name: longName, body: "x" },
      ]),
    );
    expect(files.map((file) => [file.name, file.body.toString()])).toEqual([
      ["a/b.txt", "hi"],
      [longName, "x"],
    ]);
  });

  it("installs inline chartContent holding <dir>/Chart.yaml", () => {
    const spec = { chartContent: chartTgz("hello").toString("base64"), targetNamespace: "apps" };
    expect(checkHelmChart(spec, noStatic)).toEqual({ ok: true, name: "hello", version: "1.2.3" });
  });

  it("refuses inline content that is not a gzipped chart, or lacks Chart.yaml fields", () => {
    expect(checkHelmChart({ chartContent: Buffer.from("plain text").toString("base64") }, noStatic)).toEqual({
      ok: false,
      message:
        "Error: INSTALLATION FAILED: file 'chart.tgz' does not appear to be a gzipped archive; got 'application/octet-stream'",
    });
    const noChartYaml = gzipSync(tarBytes([{ name: "hello/values.yaml", body: "a: 1\n" }])).toString(
      "base64",
    );
    expect(checkHelmChart({ chartContent: noChartYaml }, noStatic)).toEqual({
      ok: false,
      message: "Error: INSTALLATION FAILED: Chart.yaml file is missing",
    });
    const noVersion = chartTgz("hello", "apiVersion: v2\nname: hello\n").toString("base64");
    expect(checkHelmChart({ chartContent: noVersion }, noStatic)).toEqual({
      ok: false,
      message: "Error: INSTALLATION FAILED: validation: chart.metadata.version is required",
    });
  });

  it("installs a chart the apiserver serves from static/, and fails as helm does when it is missing", () => {
    const served = (relative: string): Buffer | undefined =>
      relative === "charts/groundcrew-big-0123456789ab.tgz" ? chartTgz("big") : undefined;
    expect(checkHelmChart({ chart: STATIC_URL }, served)).toEqual({
      ok: true,
      name: "big",
      version: "1.2.3",
    });
    expect(checkHelmChart({ chart: STATIC_URL }, noStatic)).toEqual({
      ok: false,
      message:
        "Error: INSTALLATION FAILED: failed to fetch https://10.43.0.1:443/static/charts/groundcrew-big-0123456789ab.tgz : 404 Not Found",
    });
    expect(
      checkHelmChart({ chart: "https://%{KUBERNETES_API}%/static/../token" }, () => Buffer.from("x")).ok,
    ).toBe(false);
  });

  it("fails charts that need a network (a repository, a URL, a bare name)", () => {
    const repo = checkHelmChart({ chart: "traefik", repo: "https://traefik.github.io/charts" }, noStatic);
    expect(repo.ok ? "" : repo.message).toContain(
      'looks like "https://traefik.github.io/charts" is not a valid chart repository',
    );
    const bare = checkHelmChart({ chart: "stable/nginx" }, noStatic);
    expect(bare.ok ? "" : bare.message).toContain('failed to download "stable/nginx"');
  });
});

describe("k3s double: the helm controller", () => {
  // The controller logs each job's outcome on stderr, as k3s logs to its journal.
  beforeEach(() => {
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  const helmChart = (name: string, spec: Record<string, unknown>): KubeObject => ({
    apiVersion: "helm.cattle.io/v1",
    kind: "HelmChart",
    metadata: { name, namespace: "kube-system" },
    spec,
  });
  const condition = (job: KubeObject | undefined, type: string): unknown =>
    (
      job?.["status"] as { conditions?: { type: string; status: string; message: string }[] } | undefined
    )?.conditions?.find((item) => item.type === type);

  it("runs helm-install-<name>: Complete for a chart it has, Failed with helm's message for one it lacks", () => {
    const store = ObjectStore.inMemory();
    store.put(helmChart("hello", { chartContent: chartTgz("hello").toString("base64") }));
    store.put(helmChart("big", { chart: STATIC_URL }));
    reconcileHelmCharts(store, noStatic, new Date());

    const hello = store.get(JOBS, "kube-system", "helm-install-hello");
    expect(hello?.["status"]).toMatchObject({ succeeded: 1 });
    expect(condition(hello, "Complete")).toMatchObject({ status: "True" });
    expect(hello?.metadata.ownerReferences?.[0]).toMatchObject({ kind: "HelmChart", name: "hello" });
    const big = store.get(JOBS, "kube-system", "helm-install-big");
    expect(big?.["status"]).toMatchObject({ failed: 1 });
    expect(condition(big, "Failed")).toMatchObject({
      status: "True",
      message: expect.stringContaining("404 Not Found") as unknown,
    });
    expect(store.get(HELM_CHARTS, "kube-system", "hello")?.["status"]).toEqual({
      jobName: "helm-install-hello",
    });
  });

  it("keeps a job while the chart is unchanged, replaces it when the chart or its HelmChartConfig changes", () => {
    const store = ObjectStore.inMemory();
    store.put(helmChart("big", { chart: STATIC_URL }));
    reconcileHelmCharts(store, noStatic, new Date());
    const first = store.get(JOBS, "kube-system", "helm-install-big");
    reconcileHelmCharts(store, () => chartTgz("big"), new Date());
    expect(store.get(JOBS, "kube-system", "helm-install-big")?.metadata.uid).toBe(first?.metadata.uid);
    expect(store.get(JOBS, "kube-system", "helm-install-big")?.["status"]).toMatchObject({ failed: 1 });

    store.put(helmChart("big", { chart: STATIC_URL, valuesContent: "replicas: 2\n" }));
    reconcileHelmCharts(store, () => chartTgz("big"), new Date());
    const second = store.get(JOBS, "kube-system", "helm-install-big");
    expect(second?.metadata.uid).not.toBe(first?.metadata.uid);
    expect(second?.["status"]).toMatchObject({ succeeded: 1 });

    store.put({
      ...helmChart("big", { valuesContent: "x: 1\n" }),
      apiVersion: "helm.cattle.io/v1",
      kind: HELM_CHART_CONFIGS.kind,
    });
    reconcileHelmCharts(store, () => chartTgz("big"), new Date());
    expect(store.get(JOBS, "kube-system", "helm-install-big")?.metadata.uid).not.toBe(second?.metadata.uid);
  });

  it("deleting a HelmChart deletes its job", () => {
    const store = ObjectStore.inMemory();
    store.put(helmChart("hello", { chartContent: chartTgz("hello").toString("base64") }));
    reconcileHelmCharts(store, noStatic, new Date());
    expect(store.list(JOBS)).toHaveLength(1);
    store.remove(HELM_CHARTS, "kube-system", "hello");
    expect(store.list(JOBS)).toEqual([]);
  });
});
