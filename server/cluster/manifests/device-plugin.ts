import { renderObject, type ClusterManifest } from "./render-yaml.js";

/** The node label GPU hosts register with; the device plugin runs only on nodes that carry it. */
export const GPU_NODE_LABEL = { key: "nvidia.com/gpu.present", value: "true" } as const;

/** Bundle image names ("nvidia/k8s-device-plugin:v0.17.0", no registry host) of NVIDIA's device plugin. */
export function isDevicePluginImage(image: string): boolean {
  const repository = image.slice(0, image.lastIndexOf(":"));
  return repository.split("/").at(-1) === "k8s-device-plugin";
}

/** The device plugin's auto-deploy manifest name (without .yaml). */
export const DEVICE_PLUGIN_MANIFEST = "groundcrew-nvidia-device-plugin";

/**
 * G7: NVIDIA's static nvidia-device-plugin.yml (DaemonSet in kube-system,
 * toleration nvidia.com/gpu NoSchedule, system-node-critical, the kubelet's
 * device-plugins hostPath), adapted for k3s: `runtimeClassName: nvidia` (or
 * it crash-loops under runc) and a nodeSelector on GPU_NODE_LABEL. `image`
 * is the full reference pods pull (through the depot).
 */
export function devicePluginManifest(image: string): ClusterManifest {
  const labels = { name: "nvidia-device-plugin-ds" };
  return {
    name: DEVICE_PLUGIN_MANIFEST,
    content: renderObject("NVIDIA's device plugin", {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "nvidia-device-plugin-daemonset", namespace: "kube-system" },
      spec: {
        selector: { matchLabels: labels },
        updateStrategy: { type: "RollingUpdate" },
        template: {
          metadata: { labels },
          spec: {
            runtimeClassName: "nvidia",
            nodeSelector: { [GPU_NODE_LABEL.key]: GPU_NODE_LABEL.value },
            tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
            priorityClassName: "system-node-critical",
            containers: [
              {
                name: "nvidia-device-plugin-ctr",
                image,
                env: [{ name: "FAIL_ON_INIT_ERROR", value: "false" }],
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                volumeMounts: [{ name: "device-plugin", mountPath: "/var/lib/kubelet/device-plugins" }],
              },
            ],
            volumes: [{ name: "device-plugin", hostPath: { path: "/var/lib/kubelet/device-plugins" } }],
          },
        },
      },
    }),
  };
}
