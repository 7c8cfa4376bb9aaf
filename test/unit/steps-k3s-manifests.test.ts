import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { k3sManifestsStep } from "../../agent/steps/k3s-manifests.js";
import { K3S_MANIFESTS_DIR, K3S_STATIC_CHARTS_DIR } from "../../shared/cluster-manifests.js";
import { runtimeClassManifest } from "../../server/cluster/manifests/runtime-class.js";
import { traefikConfigManifest } from "../../server/cluster/manifests/traefik-config.js";
import { helmChartManifest } from "../../server/cluster/manifests/helm-chart.js";
import { directory } from "../fakes/fake-fs.js";
import { fakePrepHost } from "../fakes/prep-host.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

const CAS = "/var/lib/groundcrew/cas/sha256";
const CHART = "(chart tgz bytes)";
const CHART_SHA = createHash("sha256").update(CHART).digest("hex");
const CHART_FILE = `groundcrew-big-${CHART_SHA.slice(0, 12)}.tgz`;
const CHART_PATH = `${K3S_STATIC_CHARTS_DIR}/${CHART_FILE}`;
const KUBECTL_DELETE = (file: string) =>
  `/usr/local/bin/k3s kubectl delete -f ${file} --ignore-not-found --timeout=60s`;

const traefik = traefikConfigManifest({ httpPort: 8080, httpsPort: 8443 });
const runtime = runtimeClassManifest();
const addon = helmChartManifest({
  name: "big",
  chart: { url: `https://%{KUBERNETES_API}%/static/charts/${CHART_FILE}` },
  targetNamespace: "apps",
});
const path = (name: string) => `${K3S_MANIFESTS_DIR}/${name}.yaml`;

function params(manifests = [traefik, runtime, addon], charts = true) {
  return {
    manifests: manifests.map(({ name, content }) => ({ name, content })),
    charts: charts
      ? [
          {
            file: CHART_FILE,
            artifact: {
              sha256: CHART_SHA,
              size: CHART.length,
              path: "helm-chart/big-1.0.0.tgz",
              kind: "helm-chart",
            },
          },
        ]
      : [],
  };
}

/** A k3s server: its manifests directory (with a packaged manifest), the chart in the store; kubectl delete logs what it deletes. */
function serverHost() {
  const host = fakePrepHost({
    swap: false,
    extra: {
      [`${K3S_MANIFESTS_DIR}/coredns.yaml`]: "# packaged by k3s\n",
      "/var/lib/rancher/k3s/server/tls": directory(),
      [`${CAS}/${CHART_SHA}`]: CHART,
    },
  });
  const { fs, exec } = host;
  const deleted: string[] = [];
  exec.answer(`cp ${CAS}/${CHART_SHA} ${CHART_PATH}.partial`, async () => {
    await fs.writeFileAtomic(`${CHART_PATH}.partial`, await fs.readText(`${CAS}/${CHART_SHA}`), 0o644);
    return {};
  });
  exec.answer(`sha256sum ${CHART_PATH}`, async () => {
    const content = await fs.readTextIfExists(CHART_PATH);
    if (content === undefined) return { code: 1, stderr: "No such file or directory\n" };
    return { stdout: `${createHash("sha256").update(content).digest("hex")}  ${CHART_PATH}\n` };
  });
  exec.answer(`rm -f -- ${CHART_PATH}`, async () => {
    await fs.remove(CHART_PATH);
    return {};
  });
  for (const manifest of [traefik, runtime, addon]) {
    exec.answer(KUBECTL_DELETE(path(manifest.name)), () => {
      deleted.push(manifest.name);
      return { stdout: "deleted\n" };
    });
  }
  return { ...host, deleted };
}

describe("k3s.manifests", () => {
  it("on a fresh server: not done, names each missing file", async () => {
    const host = serverHost();
    const result = await stepHarness(k3sManifestsStep, host, params()).check();
    expect(result.done).toBe(false);
    expect(result.reason).toContain(`${CHART_PATH} is missing or differs`);
    expect(result.reason).toContain(`${path("groundcrew-traefik-config")} is missing or differs`);
  });

  it("apply places the chart, then writes every manifest (0600); check then says done and verify passes", async () => {
    const host = serverHost();
    const step = stepHarness(k3sManifestsStep, host, params());
    const { changes } = await step.apply();
    expect(changes).toEqual([
      `placed ${CHART_PATH}`,
      `wrote ${path("groundcrew-traefik-config")}`,
      `wrote ${path("groundcrew-nvidia-runtimeclass")}`,
      `wrote ${path("groundcrew-addon-big")}`,
    ]);
    expect(await host.fs.readText(path("groundcrew-traefik-config"))).toBe(traefik.content);
    expect(await host.fs.readText(CHART_PATH)).toBe(CHART);
    expect(host.fs.modeOf(path("groundcrew-addon-big"))).toBe(0o600);
    expect((await step.check()).done).toBe(true);
    await step.verify();
  });

  it("a second apply rewrites nothing (k3s does not re-apply)", async () => {
    const host = serverHost();
    const step = stepHarness(k3sManifestsStep, host, params());
    await step.apply();
    const writes = host.fs.writes.length;
    expect((await step.apply()).changes).toEqual([]);
    expect(host.fs.writes.slice(writes).filter((w) => !w.includes("/groundcrew/agent/state"))).toEqual([]);
  });

  it("rewrites only the manifest whose content changed", async () => {
    const host = serverHost();
    await stepHarness(k3sManifestsStep, host, params()).apply();
    const changed = traefikConfigManifest({ httpPort: 80, httpsPort: 443 });
    const { changes } = await stepHarness(k3sManifestsStep, host, params([changed, runtime, addon])).apply();
    expect(changes).toEqual([`wrote ${path("groundcrew-traefik-config")}`]);
  });

  it("verify catches a manifest changed on the host", async () => {
    const host = serverHost();
    const step = stepHarness(k3sManifestsStep, host, params());
    await step.apply();
    await host.fs.writeFileAtomic(path("groundcrew-addon-big"), "edited\n", 0o600);
    await expect(step.verify()).rejects.toMatchObject({ code: "STEP_VERIFY_FAILED" });
  });

  it("removes what the plan no longer lists: objects first, then the file", async () => {
    const host = serverHost();
    await stepHarness(k3sManifestsStep, host, params()).apply();
    const step = stepHarness(k3sManifestsStep, host, params([traefik, runtime], false));
    expect((await step.check()).reason).toContain(`${path("groundcrew-addon-big")} is no longer wanted`);
    const { changes } = await step.apply();
    expect(changes).toEqual([
      `deleted the objects of ${path("groundcrew-addon-big")}`,
      `removed ${path("groundcrew-addon-big")}`,
      `removed ${CHART_PATH}`,
    ]);
    expect(host.deleted).toEqual(["groundcrew-addon-big"]);
    expect((await step.check()).done).toBe(true);
  });

  it("refuses on a host where k3s is not a server (no manifests directory)", async () => {
    const host = fakePrepHost({ swap: false });
    await expect(stepHarness(k3sManifestsStep, host, params()).apply()).rejects.toMatchObject({
      code: "STEP_VERIFY_FAILED",
    });
  });

  it("undo deletes each manifest's objects (not the RuntimeClass's), then the files: the host is as before", async () => {
    const host = serverHost();
    const before = hostTree(host.fs);
    await stepHarness(k3sManifestsStep, host, params()).apply();
    // Reset runs undo with placeholder params: it works from the ledger alone.
    const { changes } = await stepHarness(k3sManifestsStep, host, { manifests: [] }).undo();
    expect(host.deleted).toEqual(["groundcrew-addon-big", "groundcrew-traefik-config"]);
    expect(changes).toContain(
      `kept the objects of ${path("groundcrew-nvidia-runtimeclass")} (k3s manages them too)`,
    );
    const deletes = host.exec.commandLines().filter((line) => line.includes("kubectl delete"));
    const lastDelete = host.exec.commandLines().lastIndexOf(deletes.at(-1) ?? "");
    expect(lastDelete).toBeLessThan(host.exec.commandLines().indexOf(`rm -f -- ${CHART_PATH}`));
    expect(hostTree(host.fs)).toEqual(before);
    expect((await stepHarness(k3sManifestsStep, host, { manifests: [] }).undo()).changes).toEqual([]);
  });

  it("undo removes the files even when the API does not answer", async () => {
    const host = serverHost();
    const before = hostTree(host.fs);
    await stepHarness(k3sManifestsStep, host, params()).apply();
    for (const manifest of [traefik, addon])
      host.exec.answer(KUBECTL_DELETE(path(manifest.name)), {
        code: 1,
        stderr: "The connection to the server 127.0.0.1:6443 was refused\n",
      });
    const { changes } = await stepHarness(k3sManifestsStep, host, { manifests: [] }).undo();
    expect(changes).toContain(
      `could not delete the objects of ${path("groundcrew-addon-big")} (The connection to the server 127.0.0.1:6443 was refused); removing the file anyway`,
    );
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("refuses a manifest name outside groundcrew's prefix or RFC 1123", () => {
    for (const name of ["coredns", "groundcrew-Bad_Name", "groundcrew-"]) {
      expect(() => k3sManifestsStep.bind({ manifests: [{ name, content: "x" }] })).toThrow();
    }
  });
});
