/**
 * The API resources the double serves, as discovery would list them: kind,
 * group and version, the plural used in URLs and by kubectl, whether
 * objects live in a namespace, and kubectl's short names. Nodes are served
 * from the node datastore; every other kind from the object store.
 */
export interface ResourceType {
  readonly kind: string;
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
}

function resource(
  kind: string,
  apiVersion: string,
  plural: string,
  namespaced: boolean,
  shortNames: readonly string[] = [],
): ResourceType {
  const slash = apiVersion.indexOf("/");
  const group = slash === -1 ? "" : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  return { kind, group, version, plural, singular: kind.toLowerCase(), namespaced, shortNames };
}

const RBAC = "rbac.authorization.k8s.io/v1";

export const RESOURCES: readonly ResourceType[] = [
  resource("Node", "v1", "nodes", false, ["no"]),
  resource("Namespace", "v1", "namespaces", false, ["ns"]),
  resource("ConfigMap", "v1", "configmaps", true, ["cm"]),
  resource("Secret", "v1", "secrets", true),
  resource("Service", "v1", "services", true, ["svc"]),
  resource("ServiceAccount", "v1", "serviceaccounts", true, ["sa"]),
  resource("Deployment", "apps/v1", "deployments", true, ["deploy"]),
  resource("DaemonSet", "apps/v1", "daemonsets", true, ["ds"]),
  resource("StatefulSet", "apps/v1", "statefulsets", true, ["sts"]),
  resource("Job", "batch/v1", "jobs", true),
  resource("ClusterRole", RBAC, "clusterroles", false),
  resource("ClusterRoleBinding", RBAC, "clusterrolebindings", false),
  resource("Role", RBAC, "roles", true),
  resource("RoleBinding", RBAC, "rolebindings", true),
  resource("StorageClass", "storage.k8s.io/v1", "storageclasses", false, ["sc"]),
  resource("RuntimeClass", "node.k8s.io/v1", "runtimeclasses", false),
  resource("PriorityClass", "scheduling.k8s.io/v1", "priorityclasses", false, ["pc"]),
  resource("HelmChart", "helm.cattle.io/v1", "helmcharts", true),
  resource("HelmChartConfig", "helm.cattle.io/v1", "helmchartconfigs", true),
  resource("Addon", "k3s.cattle.io/v1", "addons", true),
];

function find(kind: string): ResourceType {
  const found = RESOURCES.find((item) => item.kind === kind);
  if (found === undefined) throw new Error(`no resource type ${kind}`);
  return found;
}

export const NODES = find("Node");
export const ADDONS = find("Addon");
export const HELM_CHARTS = find("HelmChart");
export const HELM_CHART_CONFIGS = find("HelmChartConfig");
export const JOBS = find("Job");
export const DAEMON_SETS = find("DaemonSet");
export const DEPLOYMENTS = find("Deployment");
export const RUNTIME_CLASSES = find("RuntimeClass");

/** `group/version`, or just the version for the core group: an object's apiVersion. */
export function apiVersionOf(type: ResourceType): string {
  return type.group === "" ? type.version : `${type.group}/${type.version}`;
}

/** The resource type of an object's apiVersion and kind; undefined when the API has none ("no matches for kind"). */
export function resourceForKind(apiVersion: string, kind: string): ResourceType | undefined {
  return RESOURCES.find((item) => item.kind === kind && apiVersionOf(item) === apiVersion);
}

/**
 * The resource type kubectl means by `text`: a plural, singular or short
 * name, optionally qualified by its group (`storageclasses.storage.k8s.io`,
 * `jobs.batch`) or version and group (`deployments.v1.apps`). Case-insensitive.
 */
export function resolveResource(text: string): ResourceType | undefined {
  const lower = text.toLowerCase();
  const dot = lower.indexOf(".");
  const name = dot === -1 ? lower : lower.slice(0, dot);
  const qualifier = dot === -1 ? undefined : lower.slice(dot + 1);
  return RESOURCES.find(
    (item) =>
      (item.plural === name || item.singular === name || item.shortNames.includes(name)) &&
      (qualifier === undefined || qualifier === item.group || qualifier === `${item.version}.${item.group}`),
  );
}

/** How the API names a resource in messages: `storageclasses.storage.k8s.io`, or `nodes` in the core group. */
export function qualifiedPlural(type: ResourceType): string {
  return type.group === "" ? type.plural : `${type.plural}.${type.group}`;
}

/** How kubectl names one kind in its output: `storageclass.storage.k8s.io`, or `configmap` in the core group. */
export function qualifiedSingular(type: ResourceType): string {
  return type.group === "" ? type.singular : `${type.singular}.${type.group}`;
}
