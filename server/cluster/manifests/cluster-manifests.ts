import type { ArtifactRef } from "../../../shared/artifacts.js";
import { devicePluginManifest, isDevicePluginImage } from "./device-plugin.js";
import type { NfsStorage } from "../../inventory/types.js";
import { helmChartManifest, staticChartUrl } from "./helm-chart.js";
import { staticChartFile } from "./manifest-names.js";
import { nfsProvisionerPullReference, nfsStorageManifest } from "./nfs-storage.js";
import type { ClusterManifest } from "./render-yaml.js";
import { runtimeClassManifest } from "./runtime-class.js";
import { traefikConfigManifest } from "./traefik-config.js";

/**
 * Charts up to this size travel inline (`chartContent`, base64: a third
 * larger). The plan carrying them must fit one 1 MiB protocol frame and a
 * HelmChart object one etcd request (~1.5 MiB), so inline charts together
 * stay under INLINE_CHARTS_BUDGET; the others are served from k3s's static files.
 */
export const INLINE_CHART_MAX_BYTES = 128 * 1024;
export const INLINE_CHARTS_BUDGET = 384 * 1024;

/** One inventory add-on with what the bundle and the provisioner hold for it. */
export interface AddonSource {
  readonly name: string;
  readonly namespace: string;
  /** The chart's artifact in the bundle (servers have it in their store). */
  readonly chart: ArtifactRef;
  /** The chart's bytes when it is at most INLINE_CHART_MAX_BYTES; undefined for a larger one. */
  readonly bytes?: Uint8Array;
  /** values.yaml text, or undefined for the chart's defaults. */
  readonly valuesContent?: string;
}

export interface ClusterManifestsInput {
  readonly ports: { readonly httpPort: number; readonly httpsPort: number };
  /** Whether any host of the fleet has a GPU. */
  readonly gpu: boolean;
  /** The bundle's images ("nvidia/k8s-device-plugin:v0.17.0", no registry host). */
  readonly images: readonly string[];
  /** The depot registry as clients name it, when the depot runs one. */
  readonly registryEndpoint?: string;
  readonly addons: readonly AddonSource[];
  /** The inventory's `storage.nfs`: its class and provisioner (its image checked against the bundle first: storage-bundle.ts). */
  readonly nfs?: NfsStorage;
}

/** A chart file a server places under static/charts from its artifact store. */
export interface StaticChart {
  readonly file: string;
  readonly artifact: ArtifactRef;
}

export interface ClusterManifests {
  readonly manifests: readonly ClusterManifest[];
  readonly charts: readonly StaticChart[];
  /** What was left out and why, for the run's notes. */
  readonly skipped: readonly string[];
}

/**
 * What every server's k3s.manifests step writes (the same on each: k3s does
 * not sync them): Traefik's ports; with GPU hosts the nvidia RuntimeClass
 * and the device plugin (its image from the bundle, pulled through the
 * depot; left out, and said, when the bundle has none); with `nfs`, the
 * NFS storage class and its provisioner (its image through the depot); one
 * HelmChart per add-on. Pure: the same input gives the same text.
 */
export function clusterManifests(input: ClusterManifestsInput): ClusterManifests {
  const manifests: ClusterManifest[] = [traefikConfigManifest(input.ports)];
  const skipped: string[] = [];
  if (input.gpu) {
    manifests.push(runtimeClassManifest());
    const image = input.images.find(isDevicePluginImage);
    if (image === undefined)
      skipped.push("the NVIDIA device plugin (the bundle has no image archive of k8s-device-plugin)");
    else manifests.push(devicePluginManifest(pullReference(image, input.registryEndpoint)));
  }
  if (input.nfs !== undefined)
    manifests.push(nfsStorageManifest(input.nfs, nfsProvisionerPullReference(input.registryEndpoint)));
  const charts: StaticChart[] = [];
  let inlined = 0;
  for (const addon of input.addons) {
    const bytes =
      addon.bytes !== undefined && inlined + addon.bytes.byteLength <= INLINE_CHARTS_BUDGET
        ? addon.bytes
        : undefined;
    const file = staticChartFile(addon.name, addon.chart.sha256);
    if (bytes === undefined) charts.push({ file, artifact: addon.chart });
    else inlined += bytes.byteLength;
    manifests.push(
      helmChartManifest({
        name: addon.name,
        chart:
          bytes === undefined
            ? { url: staticChartUrl(file) }
            : { content: Buffer.from(bytes).toString("base64") },
        targetNamespace: addon.namespace,
        ...(addon.valuesContent === undefined ? {} : { valuesContent: addon.valuesContent }),
      }),
    );
  }
  return { manifests, charts, skipped };
}

/** A bundle image as pods pull it: from the depot registry when there is one, else under nvcr.io (airgap images). */
function pullReference(image: string, registryEndpoint: string | undefined): string {
  return registryEndpoint === undefined ? `nvcr.io/${image}` : `${registryEndpoint}/${image}`;
}
