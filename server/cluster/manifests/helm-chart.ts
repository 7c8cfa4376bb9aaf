import { renderObject, type ClusterManifest } from "./render-yaml.js";
import { addonManifestName } from "./manifest-names.js";

/** Where k3s's apiserver serves files of server/static anonymously, as a HelmChart `chart` URL. */
export function staticChartUrl(file: string): string {
  return `https://%{KUBERNETES_API}%/static/charts/${file}`;
}

export interface HelmChartInput {
  /** The add-on's name: the HelmChart's (and Helm release's) name. */
  readonly name: string;
  /** The chart itself: base64 of the .tgz, or the URL k3s serves it from (staticChartUrl). */
  readonly chart: { readonly content: string } | { readonly url: string };
  readonly targetNamespace: string;
  /** values.yaml text, or undefined for the chart's defaults. */
  readonly valuesContent?: string;
}

/**
 * K8: a HelmChart (helm.cattle.io/v1, kube-system) k3s's helm controller
 * installs offline: `chartContent` (base64, overrides `chart`) or `chart`
 * naming a .tgz under the apiserver's static files, into `targetNamespace`
 * (created when missing). No `version`: it selects charts in a repository,
 * and these charts are given whole (the inventory's version picks the bundle
 * artifact). The klipper-helm job image comes with k3s's airgap images.
 */
export function helmChartManifest(input: HelmChartInput): ClusterManifest {
  const spec = {
    ...("content" in input.chart ? { chartContent: input.chart.content } : { chart: input.chart.url }),
    targetNamespace: input.targetNamespace,
    createNamespace: true,
    ...(input.valuesContent === undefined ? {} : { valuesContent: input.valuesContent }),
  };
  return {
    name: addonManifestName(input.name),
    content: renderObject(`add-on ${input.name}`, {
      apiVersion: "helm.cattle.io/v1",
      kind: "HelmChart",
      metadata: { name: input.name, namespace: "kube-system" },
      spec,
    }),
  };
}
