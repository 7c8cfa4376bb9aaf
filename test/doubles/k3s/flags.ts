/**
 * The flags of `k3s server` and `k3s agent` the double knows: every flag the
 * k3s documentation lists for the release it impersonates (so a config that
 * real k3s accepts is accepted), with
 *   - kind: how a value is read (`list` flags are repeatable; on the command
 *     line and in config files their values are also split at commas),
 *   - roles: which subcommands have it (a server has every agent flag too),
 *   - env: the environment variable that sets it (beats config.yaml),
 *   - alias: the one-letter form,
 *   - used: whether the double acts on it; the others are accepted and only
 *     logged ("has no effect in the test double").
 */
export type FlagKind = "string" | "bool" | "list";
export type Role = "server" | "agent";

export interface FlagSpec {
  readonly kind: FlagKind;
  readonly roles: readonly Role[];
  readonly env?: string;
  readonly alias?: string;
  readonly used: boolean;
}

const BOTH: readonly Role[] = ["server", "agent"];
const SERVER: readonly Role[] = ["server"];

type Entry = readonly [name: string, kind: FlagKind, roles: readonly Role[], extra?: Partial<FlagSpec>];

const USED = { used: true } as const;

const ENTRIES: readonly Entry[] = [
  // Both roles, acted on.
  ["config", "string", BOTH, { ...USED, env: "K3S_CONFIG_FILE", alias: "c" }],
  ["token", "string", BOTH, { ...USED, env: "K3S_TOKEN", alias: "t" }],
  ["token-file", "string", BOTH, { ...USED, env: "K3S_TOKEN_FILE" }],
  ["server", "string", BOTH, { ...USED, env: "K3S_URL", alias: "s" }],
  ["data-dir", "string", BOTH, { ...USED, env: "K3S_DATA_DIR", alias: "d" }],
  ["node-name", "string", BOTH, { ...USED, env: "K3S_NODE_NAME" }],
  ["node-label", "list", BOTH, USED],
  ["node-taint", "list", BOTH, USED],
  ["node-ip", "list", BOTH, { ...USED, alias: "i" }],
  ["node-external-ip", "list", BOTH, USED],
  ["private-registry", "string", BOTH, USED],
  ["disable-default-registry-endpoint", "bool", BOTH, USED],
  // Both roles, accepted only.
  ["debug", "bool", BOTH, { env: "K3S_DEBUG" }],
  ["v", "string", BOTH],
  ["vmodule", "string", BOTH],
  ["log", "string", BOTH, { alias: "l" }],
  ["alsologtostderr", "bool", BOTH],
  ["with-node-id", "bool", BOTH],
  ["node-internal-dns", "list", BOTH],
  ["node-external-dns", "list", BOTH],
  ["image-credential-provider-bin-dir", "string", BOTH],
  ["image-credential-provider-config", "string", BOTH],
  ["selinux", "bool", BOTH, { env: "K3S_SELINUX" }],
  ["lb-server-port", "string", BOTH, { env: "K3S_LB_SERVER_PORT" }],
  ["protect-kernel-defaults", "bool", BOTH],
  ["container-runtime-endpoint", "string", BOTH],
  ["default-runtime", "string", BOTH],
  ["disable-default-runtime", "bool", BOTH],
  ["image-service-endpoint", "string", BOTH],
  ["pause-image", "string", BOTH],
  ["snapshotter", "string", BOTH],
  ["nonroot-devices", "bool", BOTH],
  ["resolv-conf", "string", BOTH, { env: "K3S_RESOLV_CONF" }],
  ["flannel-iface", "string", BOTH],
  ["flannel-conf", "string", BOTH],
  ["flannel-cni-conf", "string", BOTH],
  ["kubelet-arg", "list", BOTH],
  ["kube-proxy-arg", "list", BOTH],
  ["rootless", "bool", BOTH],
  ["prefer-bundled-bin", "bool", BOTH],
  ["docker", "bool", BOTH],
  ["vpn-auth", "string", BOTH, { env: "K3S_VPN_AUTH" }],
  ["vpn-auth-file", "string", BOTH, { env: "K3S_VPN_AUTH_FILE" }],
  ["airgap-extra-registry", "list", BOTH],
  ["enable-pprof", "bool", BOTH],
  ["bind-address", "string", BOTH],
  // Server only, acted on.
  ["cluster-init", "bool", SERVER, { ...USED, env: "K3S_CLUSTER_INIT" }],
  ["agent-token", "string", SERVER, { ...USED, env: "K3S_AGENT_TOKEN" }],
  ["agent-token-file", "string", SERVER, { ...USED, env: "K3S_AGENT_TOKEN_FILE" }],
  ["tls-san", "list", SERVER, USED],
  ["write-kubeconfig", "string", SERVER, { ...USED, env: "K3S_KUBECONFIG_OUTPUT", alias: "o" }],
  ["write-kubeconfig-mode", "string", SERVER, { ...USED, env: "K3S_KUBECONFIG_MODE" }],
  ["https-listen-port", "string", SERVER, USED],
  ["disable", "list", SERVER, USED],
  ["default-local-storage-path", "string", SERVER, USED],
  ["disable-helm-controller", "bool", SERVER, USED],
  ["system-default-registry", "string", SERVER, USED],
  // Server only, accepted only.
  ["write-kubeconfig-group", "string", SERVER, { env: "K3S_KUBECONFIG_GROUP" }],
  ["cluster-reset", "bool", SERVER, { env: "K3S_CLUSTER_RESET" }],
  ["cluster-reset-restore-path", "string", SERVER],
  ["tls-san-security", "bool", SERVER],
  ["advertise-address", "string", SERVER],
  ["advertise-port", "string", SERVER],
  ["supervisor-port", "string", SERVER],
  ["apiserver-port", "string", SERVER],
  ["apiserver-bind-address", "string", SERVER],
  ["cluster-cidr", "list", SERVER],
  ["service-cidr", "list", SERVER],
  ["service-node-port-range", "string", SERVER],
  ["cluster-dns", "list", SERVER],
  ["cluster-domain", "string", SERVER],
  ["flannel-backend", "string", SERVER],
  ["flannel-ipv6-masq", "bool", SERVER],
  ["flannel-external-ip", "bool", SERVER],
  ["egress-selector-mode", "string", SERVER],
  ["servicelb-namespace", "string", SERVER],
  ["kube-apiserver-arg", "list", SERVER],
  ["etcd-arg", "list", SERVER],
  ["kube-controller-manager-arg", "list", SERVER],
  ["kube-scheduler-arg", "list", SERVER],
  ["kube-cloud-controller-manager-arg", "list", SERVER],
  ["datastore-endpoint", "string", SERVER, { env: "K3S_DATASTORE_ENDPOINT" }],
  ["datastore-cafile", "string", SERVER, { env: "K3S_DATASTORE_CAFILE" }],
  ["datastore-certfile", "string", SERVER, { env: "K3S_DATASTORE_CERTFILE" }],
  ["datastore-keyfile", "string", SERVER, { env: "K3S_DATASTORE_KEYFILE" }],
  ["etcd-expose-metrics", "bool", SERVER],
  ["etcd-disable-snapshots", "bool", SERVER],
  ["etcd-snapshot-name", "string", SERVER],
  ["etcd-snapshot-schedule-cron", "string", SERVER],
  ["etcd-snapshot-retention", "string", SERVER],
  ["etcd-snapshot-dir", "string", SERVER],
  ["etcd-snapshot-compress", "bool", SERVER],
  ["etcd-s3", "bool", SERVER],
  ["etcd-s3-endpoint", "string", SERVER],
  ["etcd-s3-endpoint-ca", "string", SERVER],
  ["etcd-s3-skip-ssl-verify", "bool", SERVER],
  ["etcd-s3-access-key", "string", SERVER],
  ["etcd-s3-secret-key", "string", SERVER],
  ["etcd-s3-bucket", "string", SERVER],
  ["etcd-s3-region", "string", SERVER],
  ["etcd-s3-folder", "string", SERVER],
  ["etcd-s3-insecure", "bool", SERVER],
  ["etcd-s3-timeout", "string", SERVER],
  ["etcd-s3-proxy", "string", SERVER],
  ["etcd-s3-config-secret", "string", SERVER],
  ["disable-scheduler", "bool", SERVER],
  ["disable-cloud-controller", "bool", SERVER],
  ["disable-kube-proxy", "bool", SERVER],
  ["disable-network-policy", "bool", SERVER],
  ["disable-apiserver", "bool", SERVER],
  ["disable-controller-manager", "bool", SERVER],
  ["disable-etcd", "bool", SERVER],
  ["embedded-registry", "bool", SERVER],
  ["supervisor-metrics", "bool", SERVER],
  ["secrets-encryption", "bool", SERVER],
  ["secrets-encryption-provider", "string", SERVER],
  ["kine-tls", "bool", SERVER],
];

/** Every known flag by name (without dashes). */
export const FLAGS: ReadonlyMap<string, FlagSpec> = new Map(
  ENTRIES.map(([name, kind, roles, extra]) => [name, { kind, roles, used: false, ...extra }]),
);

/** The spec of `name` for `role`, or undefined when that subcommand has no such flag. */
export function flagFor(role: Role, name: string): FlagSpec | undefined {
  const spec = FLAGS.get(name);
  return spec?.roles.includes(role) === true ? spec : undefined;
}

/** The long name of a one-letter alias for `role`. */
export function aliasFor(role: Role, alias: string): string | undefined {
  for (const [name, spec] of FLAGS) if (spec.alias === alias && spec.roles.includes(role)) return name;
  return undefined;
}
