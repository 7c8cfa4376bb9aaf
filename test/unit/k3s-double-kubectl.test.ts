import { describe, expect, it } from "vitest";
import { parseResourcePath, resourcePath } from "../doubles/k3s/api-paths.js";
import { parseKubectlArgs } from "../doubles/k3s/kubectl/args.js";
import { KubectlError } from "../doubles/k3s/kubectl/client.js";
import { parseTargets } from "../doubles/k3s/kubectl/targets.js";
import { NODES, qualifiedPlural, qualifiedSingular, resolveResource } from "../doubles/k3s/resources.js";

describe("k3s double: kubectl's command line", () => {
  it("reads the patch forms the provisioner uses", () => {
    const json = '{"metadata":{"labels":{"a":"b"}}}';
    for (const argv of [
      ["patch", "node", "n1", "--type=merge", "-p", json],
      ["patch", "node", "n1", "--type", "merge", `-p=${json}`],
      ["patch", "node/n1", "--patch", json, "--type", "merge"],
    ]) {
      const args = parseKubectlArgs(argv);
      expect([args.verb, args.patchType, args.patch]).toEqual(["patch", "merge", json]);
    }
  });

  it("reads namespaces, joined one-letter flags, delete -f and its switches", () => {
    expect(parseKubectlArgs(["get", "jobs", "-nkube-system", "-ojson"])).toMatchObject({
      namespace: "kube-system",
      output: "json",
      allNamespaces: false,
    });
    expect(parseKubectlArgs(["get", "helmcharts", "-A"]).allNamespaces).toBe(true);
    expect(
      parseKubectlArgs(["delete", "-f", "/x.yaml", "--ignore-not-found", "--timeout=60s", "--wait=false"]),
    ).toMatchObject({ filename: "/x.yaml", ignoreNotFound: true, timeout: "60s", wait: false });
    expect(() => parseKubectlArgs(["get", "pods", "--sort-by=x"])).toThrow(KubectlError);
  });

  it("names resources as kubectl does: plural, singular, short, group-qualified", () => {
    for (const text of ["storageclasses", "storageclass", "sc", "storageclasses.storage.k8s.io", "SC"])
      expect(resolveResource(text)?.kind).toBe("StorageClass");
    expect(resolveResource("ds")?.kind).toBe("DaemonSet");
    expect(resolveResource("deployments.v1.apps")?.kind).toBe("Deployment");
    expect(resolveResource("jobs.batch")?.kind).toBe("Job");
    expect(resolveResource("addons.k3s.cattle.io")?.kind).toBe("Addon");
    expect(resolveResource("runtimeclass.node.k8s.io")?.kind).toBe("RuntimeClass");
    expect(resolveResource("jobs.apps")).toBeUndefined();
    const sc = resolveResource("sc");
    expect(sc && [qualifiedPlural(sc), qualifiedSingular(sc)]).toEqual([
      "storageclasses.storage.k8s.io",
      "storageclass.storage.k8s.io",
    ]);
    expect([qualifiedPlural(NODES), qualifiedSingular(NODES)]).toEqual(["nodes", "node"]);
  });

  it("takes TYPE NAME... and TYPE/NAME... targets, refusing unknown types", () => {
    expect(parseTargets(["sc", "a", "b"])).toMatchObject({
      type: { kind: "StorageClass" },
      names: ["a", "b"],
    });
    expect(parseTargets(["job/x", "jobs.batch/y"])).toMatchObject({
      type: { kind: "Job" },
      names: ["x", "y"],
    });
    expect(() => parseTargets(["widgets"])).toThrow(
      `error: the server doesn't have a resource type "widgets"`,
    );
  });

  it("lays out and parses API paths as kube-apiserver does", () => {
    const jobs = resolveResource("jobs")!;
    const sc = resolveResource("sc")!;
    expect(resourcePath({ type: jobs, namespace: "kube-system", name: "helm-install-x" })).toBe(
      "/apis/batch/v1/namespaces/kube-system/jobs/helm-install-x",
    );
    expect(resourcePath({ type: jobs })).toBe("/apis/batch/v1/jobs");
    expect(resourcePath({ type: sc, namespace: "ignored", name: "local-path" })).toBe(
      "/apis/storage.k8s.io/v1/storageclasses/local-path",
    );
    expect(resourcePath({ type: NODES, name: "n1" })).toBe("/api/v1/nodes/n1");
    expect(parseResourcePath("/apis/batch/v1/namespaces/kube-system/jobs/helm-install-x")).toEqual({
      type: jobs,
      namespace: "kube-system",
      name: "helm-install-x",
    });
    expect(parseResourcePath("/api/v1/namespaces/kube-system")).toMatchObject({
      type: { kind: "Namespace" },
      name: "kube-system",
    });
    expect(parseResourcePath("/apis/storage.k8s.io/v1/namespaces/x/storageclasses")).toBeUndefined();
    expect(parseResourcePath("/apis/example.com/v1/widgets")).toBeUndefined();
  });
});
