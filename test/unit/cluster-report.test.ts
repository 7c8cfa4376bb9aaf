import { afterEach, describe, expect, it, vi } from "vitest";
import { clusterReport, waitForClusterReport } from "../../server/cluster/report/cluster-report.js";
import type { ClusterExpectations } from "../../server/cluster/report/types.js";
import { renderClusterReport } from "../../server/cli/render-cluster-report.js";
import { fakeExec, type FakeExec } from "../fakes/fake-exec.js";
import { testHost } from "../support/inventory-host.js";

const KUBECTL = "/usr/local/bin/k3s kubectl";

function nodeJson(name: string, labels: Record<string, string>, allocatable: Record<string, string> = {}) {
  return {
    metadata: { name, labels },
    spec: {},
    status: { conditions: [{ type: "Ready", status: "True" }], allocatable: { cpu: "2", ...allocatable } },
  };
}

const LOCAL_PATH = {
  metadata: { name: "local-path", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
  provisioner: "rancher.io/local-path",
};
const NFS = { metadata: { name: "nfs-rwx" }, provisioner: "groundcrew.io/nfs-subdir" };

const expected: ClusterExpectations = {
  hosts: [testHost("node1", "server", { depot: true }), testHost("gpu1", "worker", { vars: { gpu: true } })],
  devicePlugin: true,
  storageClasses: ["nfs-rwx"],
  addons: ["demo-app"],
  registry: { depot: "node1", endpoint: "10.0.0.5:5000", images: 4 },
};

/** A first server whose kubectl answers with the given cluster. */
function cluster(options: { gpus?: string; classes?: object[]; job?: object; chart?: boolean }): FakeExec {
  const exec = fakeExec();
  const json = (value: object) => ({ stdout: JSON.stringify(value) });
  exec.answer(
    `${KUBECTL} get nodes -o json`,
    json({
      items: [
        nodeJson("node1", {
          "node-role.kubernetes.io/control-plane": "true",
          "node-role.kubernetes.io/master": "true",
        }),
        nodeJson("gpu1", {}, options.gpus === undefined ? {} : { "nvidia.com/gpu": options.gpus }),
      ],
    }),
  );
  exec.answer(
    `${KUBECTL} get storageclasses.storage.k8s.io -o json`,
    json({ items: options.classes ?? [LOCAL_PATH, NFS] }),
  );
  exec.answer(
    `${KUBECTL} get helmcharts.helm.cattle.io demo-app -n kube-system -o json`,
    options.chart === false
      ? { code: 1, stderr: 'Error from server (NotFound): helmcharts.helm.cattle.io "demo-app" not found\n' }
      : json({ metadata: { name: "demo-app" }, status: { jobName: "helm-install-demo-app" } }),
  );
  exec.answer(
    `${KUBECTL} get jobs.batch helm-install-demo-app -n kube-system -o json`,
    json(options.job ?? { status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] } }),
  );
  exec.answer(
    `${KUBECTL} get daemonsets.apps nvidia-device-plugin-daemonset -n kube-system -o json`,
    json({ status: { desiredNumberScheduled: 1, numberReady: 0 } }),
  );
  return exec;
}

afterEach(() => {
  vi.useRealTimers();
});

describe("the final verification: what is ready in the cluster", () => {
  it("everything as planned: nodes Ready with roles, the GPU offered, storage classes, the add-on deployed, the registry", async () => {
    const report = await clusterReport(cluster({ gpus: "2" }), expected, ["gpu1: label zone=a set"]);
    expect(report.problems).toEqual([]);
    expect(report.nodes).toEqual([
      { name: "node1", roles: "control-plane,master", ready: true },
      { name: "gpu1", roles: "worker", ready: true },
    ]);
    expect(report.gpus).toEqual([{ node: "gpu1", gpus: 2 }]);
    expect(report.storageClasses).toEqual([
      { name: "local-path", provisioner: "rancher.io/local-path", isDefault: true },
      { name: "nfs-rwx", provisioner: "groundcrew.io/nfs-subdir", isDefault: false },
    ]);
    expect(report.addons).toEqual([
      { name: "demo-app", state: "deployed", detail: "job helm-install-demo-app completed" },
    ]);
    const table = renderClusterReport(report);
    expect(table).toMatch(/^node +node1 +Ready +control-plane,master$/m);
    expect(table).toMatch(/^gpu +gpu1 +2 GPUs +nvidia\.com\/gpu allocatable$/m);
    expect(table).toMatch(/^storage +local-path +default +rancher\.io\/local-path$/m);
    expect(table).toMatch(/^add-on +demo-app +deployed +job helm-install-demo-app completed$/m);
    expect(table).toMatch(
      /^registry +node1 +serving +10\.0\.0\.5:5000, 4 image\(s\) seeded from the bundle$/m,
    );
    expect(table).toContain("synced gpu1: label zone=a set");
  });

  it("a GPU node offering no nvidia.com/gpu is a problem naming the node and the device plugin's state", async () => {
    const report = await clusterReport(cluster({}), expected);
    expect(report.gpus).toEqual([
      {
        node: "gpu1",
        note: "the device plugin runs on 0 of 1 GPU node(s) and this node offers no nvidia.com/gpu",
      },
    ]);
    expect(report.problems).toEqual([
      "GPU node gpu1: no nvidia.com/gpu (the device plugin runs on 0 of 1 GPU node(s) and this node offers no nvidia.com/gpu)",
    ]);
  });

  it("without the device plugin (no image in the bundle, said when the run began) the GPU row says so, and that is no problem", async () => {
    const report = await clusterReport(cluster({}), { ...expected, devicePlugin: false });
    expect(report.gpus[0]?.note).toBe(
      "the device plugin is not deployed: the bundle has no k8s-device-plugin image",
    );
    expect(report.problems).toEqual([]);
  });

  it("no default storage class, or a configured one missing, is a problem", async () => {
    const report = await clusterReport(cluster({ gpus: "1", classes: [{ ...NFS }] }), {
      ...expected,
      storageClasses: ["nfs-rwx", "fast"],
    });
    expect(report.problems).toEqual([
      "storage: no default storage class (k3s's local-path should be)",
      "storage: the storage class fast does not exist",
    ]);
  });

  it("an add-on whose install gave up is failed with the job's message, and waiting stops at once", async () => {
    const job = {
      status: {
        failed: 1,
        conditions: [
          { type: "Failed", status: "True", message: "Job has reached the specified backoff limit" },
        ],
      },
    };
    const exec = cluster({ gpus: "1", job });
    const report = await waitForClusterReport(exec, expected, 600_000);
    expect(report.addons).toEqual([
      {
        name: "demo-app",
        state: "failed",
        detail: "job helm-install-demo-app failed: Job has reached the specified backoff limit",
      },
    ]);
    expect(exec.commandLines().filter((line) => line.includes("get nodes"))).toHaveLength(1);
    expect(renderClusterReport(report)).toMatch(
      /^add-on +demo-app +FAILED +job helm-install-demo-app failed/m,
    );
  });

  it("waits while the HelmChart is not applied and the job runs, and reports once it completed", async () => {
    vi.useFakeTimers();
    const exec = cluster({ gpus: "1", chart: false });
    const waiting = waitForClusterReport(exec, expected, 600_000);
    await vi.advanceTimersByTimeAsync(3_000);
    exec.answer(`${KUBECTL} get helmcharts.helm.cattle.io demo-app -n kube-system -o json`, {
      stdout: JSON.stringify({ status: { jobName: "helm-install-demo-app" } }),
    });
    exec.answer(`${KUBECTL} get jobs.batch helm-install-demo-app -n kube-system -o json`, {
      stdout: JSON.stringify({ status: { failed: 1 } }),
    });
    await vi.advanceTimersByTimeAsync(3_000);
    exec.answer(`${KUBECTL} get jobs.batch helm-install-demo-app -n kube-system -o json`, {
      stdout: JSON.stringify({ status: { succeeded: 1, failed: 1 } }),
    });
    await vi.advanceTimersByTimeAsync(3_000);
    const report = await waiting;
    expect(report.problems).toEqual([]);
    expect(exec.commandLines().filter((line) => line.includes("get nodes")).length).toBeGreaterThanOrEqual(3);
  });

  it("gives up at the deadline with what is still missing", async () => {
    vi.useFakeTimers();
    const waiting = waitForClusterReport(cluster({ gpus: "1", chart: false }), expected, 10_000);
    await vi.advanceTimersByTimeAsync(12_000);
    const report = await waiting;
    expect(report.problems).toEqual(["add-on demo-app missing: k3s has not applied its HelmChart yet"]);
  });

  it("names an API that does not answer", async () => {
    const exec = cluster({ gpus: "1" });
    exec.answer(`${KUBECTL} get storageclasses.storage.k8s.io -o json`, {
      code: 1,
      stderr:
        "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n",
    });
    const report = await clusterReport(exec, expected);
    expect(report.problems).toEqual([
      "storage: The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?",
    ]);
  });
});
