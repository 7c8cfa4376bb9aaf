import { renderObject, type ClusterManifest } from "./render-yaml.js";

/**
 * G6: the `nvidia` RuntimeClass (handler `nvidia`, the runtime k3s finds at
 * start). Current k3s ships the same object in its packaged runtimes.yaml;
 * this one covers older releases. Reset removes the file but not the object:
 * k3s may own it too.
 */
export function runtimeClassManifest(): ClusterManifest {
  return {
    name: "groundcrew-nvidia-runtimeclass",
    content: renderObject(
      "the nvidia RuntimeClass",
      {
        apiVersion: "node.k8s.io/v1",
        kind: "RuntimeClass",
        metadata: { name: "nvidia" },
        handler: "nvidia",
      },
      { keepOnReset: true },
    ),
  };
}
