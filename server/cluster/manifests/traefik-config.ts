import { stringify } from "yaml";
import { renderObject, type ClusterManifest } from "./render-yaml.js";

/**
 * Traefik's extra values through k3s's HelmChartConfig (kube-system/traefik,
 * the name and namespace of the packaged HelmChart): the ports its
 * `web` and `websecure` entry points are exposed on (the inventory's
 * httpPort/httpsPort; servicelb binds them on every node).
 */
export function traefikConfigManifest(ports: {
  readonly httpPort: number;
  readonly httpsPort: number;
}): ClusterManifest {
  const values = {
    ports: { web: { exposedPort: ports.httpPort }, websecure: { exposedPort: ports.httpsPort } },
  };
  return {
    name: "groundcrew-traefik-config",
    content: renderObject("Traefik's ports", {
      apiVersion: "helm.cattle.io/v1",
      kind: "HelmChartConfig",
      metadata: { name: "traefik", namespace: "kube-system" },
      spec: { valuesContent: stringify(values) },
    }),
  };
}
