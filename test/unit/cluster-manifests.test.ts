import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { KEEP_RESOURCES_MARKER } from "../../shared/cluster-manifests.js";
import {
  clusterManifests,
  INLINE_CHART_MAX_BYTES,
  type AddonSource,
} from "../../server/cluster/manifests/cluster-manifests.js";
import { devicePluginManifest, isDevicePluginImage } from "../../server/cluster/manifests/device-plugin.js";
import { helmChartManifest } from "../../server/cluster/manifests/helm-chart.js";
import { runtimeClassManifest } from "../../server/cluster/manifests/runtime-class.js";
import { traefikConfigManifest } from "../../server/cluster/manifests/traefik-config.js";

const chartRef = (name: string, sha: string, size: number) =>
  ({ sha256: sha.repeat(64), size, path: `helm-chart/${name}-1.0.0.tgz`, kind: "helm-chart" }) as const;

describe("manifest renderers", () => {
  it("the nvidia RuntimeClass, marked to keep its object on reset", () => {
    const manifest = runtimeClassManifest();
    expect(manifest.name).toBe("groundcrew-nvidia-runtimeclass");
    expect(manifest.content).toMatchInlineSnapshot(`
      "# Written by groundcrew (k3s.manifests): the nvidia RuntimeClass. Do not edit: groundcrew rewrites it.
      # groundcrew: keep-resources-on-reset
      apiVersion: node.k8s.io/v1
      kind: RuntimeClass
      metadata:
        name: nvidia
      handler: nvidia
      "
    `);
    expect(manifest.content.split("\n")[1]).toBe(KEEP_RESOURCES_MARKER);
  });

  it("the device plugin: NVIDIA's static DaemonSet with runtimeClassName nvidia and the GPU node selector", () => {
    const manifest = devicePluginManifest("10.0.0.5:5000/nvidia/k8s-device-plugin:v0.17.0");
    expect(manifest.name).toBe("groundcrew-nvidia-device-plugin");
    expect(manifest.content).toMatchInlineSnapshot(`
      "# Written by groundcrew (k3s.manifests): NVIDIA's device plugin. Do not edit: groundcrew rewrites it.
      apiVersion: apps/v1
      kind: DaemonSet
      metadata:
        name: nvidia-device-plugin-daemonset
        namespace: kube-system
      spec:
        selector:
          matchLabels:
            name: nvidia-device-plugin-ds
        updateStrategy:
          type: RollingUpdate
        template:
          metadata:
            labels:
              name: nvidia-device-plugin-ds
          spec:
            runtimeClassName: nvidia
            nodeSelector:
              nvidia.com/gpu.present: "true"
            tolerations:
              - key: nvidia.com/gpu
                operator: Exists
                effect: NoSchedule
            priorityClassName: system-node-critical
            containers:
              - name: nvidia-device-plugin-ctr
                image: 10.0.0.5:5000/nvidia/k8s-device-plugin:v0.17.0
                env:
                  - name: FAIL_ON_INIT_ERROR
                    value: "false"
                securityContext:
                  allowPrivilegeEscalation: false
                  capabilities:
                    drop:
                      - ALL
                volumeMounts:
                  - name: device-plugin
                    mountPath: /var/lib/kubelet/device-plugins
            volumes:
              - name: device-plugin
                hostPath:
                  path: /var/lib/kubelet/device-plugins
      "
    `);
    expect(manifest.content).not.toContain(KEEP_RESOURCES_MARKER);
  });

  it("recognizes the device plugin's image among the bundle's", () => {
    expect(isDevicePluginImage("nvidia/k8s-device-plugin:v0.17.0")).toBe(true);
    expect(isDevicePluginImage("library/k8s-device-plugin-fake:1")).toBe(false);
    expect(isDevicePluginImage("library/busybox:1.36")).toBe(false);
  });

  it("Traefik's HelmChartConfig exposes web and websecure on the inventory's ports", () => {
    const manifest = traefikConfigManifest({ httpPort: 8080, httpsPort: 8443 });
    expect(manifest.name).toBe("groundcrew-traefik-config");
    expect(manifest.content).toMatchInlineSnapshot(`
      "# Written by groundcrew (k3s.manifests): Traefik's ports. Do not edit: groundcrew rewrites it.
      apiVersion: helm.cattle.io/v1
      kind: HelmChartConfig
      metadata:
        name: traefik
        namespace: kube-system
      spec:
        valuesContent: |
          ports:
            web:
              exposedPort: 8080
            websecure:
              exposedPort: 8443
      "
    `);
  });

  it("a HelmChart with inline chart content, values and a target namespace", () => {
    const manifest = helmChartManifest({
      name: "hello",
      chart: { content: "SGVsbG8=" },
      targetNamespace: "apps",
      valuesContent: 'replicas: 2\nimage:\n  tag: "1.0"\n',
    });
    expect(manifest.name).toBe("groundcrew-addon-hello");
    expect(manifest.content).toMatchInlineSnapshot(`
      "# Written by groundcrew (k3s.manifests): add-on hello. Do not edit: groundcrew rewrites it.
      apiVersion: helm.cattle.io/v1
      kind: HelmChart
      metadata:
        name: hello
        namespace: kube-system
      spec:
        chartContent: SGVsbG8=
        targetNamespace: apps
        createNamespace: true
        valuesContent: |
          replicas: 2
          image:
            tag: "1.0"
      "
    `);
    expect(parse(manifest.content)).toMatchObject({
      spec: { valuesContent: 'replicas: 2\nimage:\n  tag: "1.0"\n' },
    });
  });

  it("a HelmChart naming a chart the apiserver serves from static/charts, chart defaults", () => {
    const manifest = helmChartManifest({
      name: "big",
      chart: { url: "https://%{KUBERNETES_API}%/static/charts/groundcrew-big-bbbbbbbbbbbb.tgz" },
      targetNamespace: "default",
    });
    expect(manifest.content).toMatchInlineSnapshot(`
      "# Written by groundcrew (k3s.manifests): add-on big. Do not edit: groundcrew rewrites it.
      apiVersion: helm.cattle.io/v1
      kind: HelmChart
      metadata:
        name: big
        namespace: kube-system
      spec:
        chart: https://%{KUBERNETES_API}%/static/charts/groundcrew-big-bbbbbbbbbbbb.tgz
        targetNamespace: default
        createNamespace: true
      "
    `);
  });
});

describe("clusterManifests", () => {
  const ports = { httpPort: 80, httpsPort: 443 };
  const small: AddonSource = {
    name: "hello",
    namespace: "apps",
    chart: chartRef("hello", "a", 3),
    bytes: Buffer.from("abc"),
    valuesContent: "replicas: 2\n",
  };
  const large: AddonSource = { name: "big", namespace: "default", chart: chartRef("big", "b", 2_000_000) };

  it("without GPUs or add-ons: only Traefik's ports", () => {
    const result = clusterManifests({ ports, gpu: false, images: [], addons: [] });
    expect(result.manifests.map((m) => m.name)).toEqual(["groundcrew-traefik-config"]);
    expect(result.charts).toEqual([]);
    expect(result.skipped).toEqual([]);
  });

  it("with GPU hosts: the RuntimeClass and the device plugin pulled through the depot", () => {
    const result = clusterManifests({
      ports,
      gpu: true,
      images: ["library/busybox:1.36", "nvidia/k8s-device-plugin:v0.17.0"],
      registryEndpoint: "10.0.0.5:5000",
      addons: [],
    });
    expect(result.manifests.map((m) => m.name)).toEqual([
      "groundcrew-traefik-config",
      "groundcrew-nvidia-runtimeclass",
      "groundcrew-nvidia-device-plugin",
    ]);
    expect(result.manifests[2]?.content).toContain("image: 10.0.0.5:5000/nvidia/k8s-device-plugin:v0.17.0\n");
  });

  it("with GPU hosts but no device plugin image: the RuntimeClass only, and says why", () => {
    const result = clusterManifests({ ports, gpu: true, images: ["library/busybox:1.36"], addons: [] });
    expect(result.manifests.map((m) => m.name)).toEqual([
      "groundcrew-traefik-config",
      "groundcrew-nvidia-runtimeclass",
    ]);
    expect(result.skipped).toEqual([
      "the NVIDIA device plugin (the bundle has no image archive of k8s-device-plugin)",
    ]);
  });

  it("inlines small charts (base64) and serves large ones from static/charts under a content-named file", () => {
    const result = clusterManifests({ ports, gpu: false, images: [], addons: [small, large] });
    expect(result.manifests.map((m) => m.name)).toEqual([
      "groundcrew-traefik-config",
      "groundcrew-addon-hello",
      "groundcrew-addon-big",
    ]);
    expect(parse(result.manifests[1]?.content ?? "")).toMatchObject({
      spec: { chartContent: "YWJj", targetNamespace: "apps", valuesContent: "replicas: 2\n" },
    });
    expect(parse(result.manifests[2]?.content ?? "")).toMatchObject({
      spec: { chart: "https://%{KUBERNETES_API}%/static/charts/groundcrew-big-bbbbbbbbbbbb.tgz" },
    });
    expect(result.charts).toEqual([{ file: "groundcrew-big-bbbbbbbbbbbb.tgz", artifact: large.chart }]);
  });

  it("keeps inline charts within the plan's budget: past it, charts go to static/charts", () => {
    const addons = ["a", "b", "c", "d"].map((seed) => ({
      name: `chart-${seed}`,
      namespace: "default",
      chart: chartRef(`chart-${seed}`, seed, INLINE_CHART_MAX_BYTES),
      bytes: Buffer.alloc(INLINE_CHART_MAX_BYTES),
    }));
    const result = clusterManifests({ ports, gpu: false, images: [], addons });
    expect(result.charts.map((chart) => chart.file)).toEqual(["groundcrew-chart-d-dddddddddddd.tgz"]);
    const total = result.manifests.reduce((sum, m) => sum + m.content.length, 0);
    expect(total).toBeLessThan(600 * 1024);
  });

  it("is deterministic: the same input gives the same text", () => {
    const input = { ports, gpu: true, images: ["nvidia/k8s-device-plugin:v0.17.0"], addons: [small, large] };
    expect(clusterManifests(input)).toEqual(clusterManifests(input));
  });
});
