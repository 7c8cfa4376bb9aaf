import { FatalError } from "./fatal.js";

/** A node taint as the Node API shows it (`value` absent for `key:Effect`). */
export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The kubelet's own labels, which --node-labels may set although they are under kubernetes.io. */
const KUBELET_LABELS = [
  "beta.kubernetes.io/arch",
  "beta.kubernetes.io/instance-type",
  "beta.kubernetes.io/os",
  "failure-domain.beta.kubernetes.io/region",
  "failure-domain.beta.kubernetes.io/zone",
  "kubernetes.io/arch",
  "kubernetes.io/hostname",
  "kubernetes.io/os",
  "node.kubernetes.io/instance-type",
  "topology.kubernetes.io/region",
  "topology.kubernetes.io/zone",
];
const KUBELET_LABEL_NAMESPACES = ["kubelet.kubernetes.io", "node.kubernetes.io"];

/**
 * `key=value` node labels, validated as the kubelet that k3s embeds does:
 * a malformed key or value, or a key in the `kubernetes.io` / `k8s.io`
 * namespaces outside the kubelet's allowed set (so `kubernetes.io/role` and
 * `node-role.kubernetes.io/*` are refused), stops k3s with the kubelet's message.
 */
export function parseNodeLabels(specs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const spec of specs) {
    const at = spec.indexOf("=");
    if (at <= 0)
      throw new FatalError(
        `invalid argument "${spec}" for "--node-labels" flag: ${spec} must be formatted as key=value`,
      );
    const key = spec.slice(0, at);
    const value = spec.slice(at + 1);
    if (!isQualifiedName(key)) throw new FatalError(`invalid node labels: ${key}: invalid label key`);
    if (value !== "" && !NAME.test(value))
      throw new FatalError(`invalid node labels: ${value}: invalid label value`);
    labels[key] = value;
  }
  const refused = Object.keys(labels)
    .filter((key) => isKubernetesNamespace(key) && !isKubeletLabel(key))
    .sort();
  if (refused.length > 0) {
    throw new FatalError(
      `kubelet exited: unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [${refused.join(" ")}]\n` +
        `--node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix (${KUBELET_LABEL_NAMESPACES.join(", ")}) ` +
        `or be in the specifically allowed set (${KUBELET_LABELS.join(", ")})`,
    );
  }
  return labels;
}

/** `key=value:Effect` or `key:Effect` taints, as kubectl and the kubelet parse them. */
export function parseTaints(specs: readonly string[]): Taint[] {
  return specs.map((spec) => {
    const colon = spec.lastIndexOf(":");
    const effect = colon === -1 ? "" : spec.slice(colon + 1);
    if (effect !== "NoSchedule" && effect !== "PreferNoSchedule" && effect !== "NoExecute") {
      throw new FatalError(
        `failed to parse node taint "${spec}": invalid taint spec: ${spec}, unsupported taint effect`,
      );
    }
    const keyValue = spec.slice(0, colon);
    const equals = keyValue.indexOf("=");
    const key = equals === -1 ? keyValue : keyValue.slice(0, equals);
    const value = equals === -1 ? undefined : keyValue.slice(equals + 1);
    if (!isQualifiedName(key) || (value !== undefined && value !== "" && !NAME.test(value))) {
      throw new FatalError(`failed to parse node taint "${spec}": invalid taint spec: ${spec}`);
    }
    return value === undefined ? { key, effect } : { key, value, effect };
  });
}

/** A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63 characters. */
export function isQualifiedName(key: string): boolean {
  const slash = key.indexOf("/");
  if (slash === -1) return NAME.test(key);
  const prefix = key.slice(0, slash);
  return prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix) && NAME.test(key.slice(slash + 1));
}

/** A label value: empty, or at most 63 alphanumerics, '-', '_', '.', alphanumeric at both ends. */
export function isLabelValue(value: string): boolean {
  return value === "" || NAME.test(value);
}

function namespaceOf(key: string): string {
  const slash = key.indexOf("/");
  return slash === -1 ? "" : key.slice(0, slash);
}

function isKubernetesNamespace(key: string): boolean {
  const namespace = namespaceOf(key);
  return ["kubernetes.io", "k8s.io"].some((base) => namespace === base || namespace.endsWith(`.${base}`));
}

function isKubeletLabel(key: string): boolean {
  if (KUBELET_LABELS.includes(key)) return true;
  const namespace = namespaceOf(key);
  return KUBELET_LABEL_NAMESPACES.some(
    (allowed) => namespace === allowed || namespace.endsWith(`.${allowed}`),
  );
}
