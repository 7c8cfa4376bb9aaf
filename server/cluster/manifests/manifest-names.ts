/** An RFC 1123 label: lowercase alphanumerics and '-', alphanumeric at both ends, at most 63. */
const RFC1123_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Every file groundcrew puts in k3s's manifests directory starts with this, so none clashes with a packaged one. */
export const MANIFEST_PREFIX = "groundcrew-";

/**
 * Names k3s uses for its packaged manifests and HelmCharts (step catalog
 * §4 K8). An add-on may not take one: its HelmChart would replace k3s's.
 */
export const PACKAGED_NAMES = [
  "coredns",
  "traefik",
  "traefik-crd",
  "local-storage",
  "metrics-server",
  "rolebindings",
  "ccm",
  "runtimes",
] as const;

/** Whether `name` can be a manifest file's basename (the AddOn's name): an RFC 1123 label. */
export function isManifestName(name: string): boolean {
  return RFC1123_LABEL.test(name);
}

/** The manifest basename of an inventory add-on. */
export function addonManifestName(addon: string): string {
  return `${MANIFEST_PREFIX}addon-${addon}`;
}

/** The file a large add-on chart is served from under k3s's static/charts directory; the sha256 prefix makes a new chart a new URL. */
export function staticChartFile(addon: string, sha256: string): string {
  return `${MANIFEST_PREFIX}${addon}-${sha256.slice(0, 12)}.tgz`;
}

/** The manifest of the NFS storage class and its provisioner (inventory `storage.nfs`); add-on manifests are `groundcrew-addon-*`, so none takes it. */
export const NFS_STORAGE_MANIFEST = `${MANIFEST_PREFIX}nfs-storage`;
