/**
 * What the provisioner and the agent's k3s.manifests step agree on about
 * the files groundcrew puts in k3s's auto-deploy directory (step catalog §4 K8).
 */

/** k3s applies every file here on servers, at start and whenever one changes. */
export const K3S_MANIFESTS_DIR = "/var/lib/rancher/k3s/server/manifests";
/** k3s's apiserver serves files under server/static anonymously: https://%{KUBERNETES_API}%/static/charts/<file>. */
export const K3S_STATIC_CHARTS_DIR = "/var/lib/rancher/k3s/server/static/charts";

/** A manifest basename groundcrew writes: `groundcrew-` then an RFC 1123 label (k3s names the AddOn after it). */
export const MANIFEST_NAME = /^groundcrew-[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$/;
/** A chart file groundcrew places under static/charts. */
export const STATIC_CHART_FILE = /^groundcrew-[a-z0-9]([a-z0-9-]{0,70}[a-z0-9])?\.tgz$/;

/**
 * A manifest whose first lines hold this comment keeps its objects when
 * reset removes the file (k3s manages the same objects, e.g. the nvidia
 * RuntimeClass of its packaged runtimes.yaml). Every other manifest's
 * objects are deleted (`kubectl delete -f`) before the file is: removing the
 * file alone deletes nothing.
 */
export const KEEP_RESOURCES_MARKER = "# groundcrew: keep-resources-on-reset";
