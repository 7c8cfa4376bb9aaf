import path from "node:path";
import { parse, stringify } from "yaml";
import {
  CLUSTER_DEFAULTS,
  type Addon,
  type Inventory,
  type InventoryHost,
  type NfsStorage,
  type TokenSource,
} from "./types.js";
import { NFS_DEFAULTS } from "./storage-schema.js";

export interface ToYamlOptions {
  /** Paths under this folder are written as "~/...". */
  readonly homeDir?: string;
}

type Plain = Record<string, unknown>;

/** Settings written once under `defaults:` when every host has the same value. */
const SHAREABLE = ["user", "port", "key", "iface", "gpu", "installDocker", "installNvidiaDriver"] as const;

/**
 * The inventory in groundcrew's native YAML, with a short header. Built-in
 * defaults are left out and settings every host shares go under `defaults:`,
 * so reading the result gives an equal Inventory (apart from file, format and
 * source lines). Secrets held as values (a token or sudo password that was in
 * the source in clear) are written in clear with their opt-in: keep the
 * result private. Secrets taken from the environment are written as its name.
 */
export function toYaml(inventory: Inventory, options: ToYamlOptions = {}): string {
  const hosts = inventory.hosts.map((host) => hostEntry(host, options));
  const defaults: Plain = {};
  for (const key of SHAREABLE) {
    const values = hosts.map((host) => JSON.stringify(host[key]));
    if (hosts.length > 1 && values[0] !== undefined && values.every((value) => value === values[0])) {
      defaults[key] = hosts[0]?.[key];
      for (const host of hosts) Reflect.deleteProperty(host, key);
    }
  }
  const body: Plain = {
    ...(Object.keys(defaults).length > 0 ? { defaults } : {}),
    hosts,
    cluster: clusterEntry(inventory, options),
    ...(Object.keys(inventory.provisioner).length > 0 ? { provisioner: { ...inventory.provisioner } } : {}),
    ...(inventory.addons.length > 0
      ? { addons: inventory.addons.map((addon) => addonEntry(addon, options)) }
      : {}),
    ...(inventory.storage.nfs === undefined ? {} : { storage: { nfs: nfsEntry(inventory.storage.nfs) } }),
  };
  const header = [
    `# groundcrew inventory, converted from ${path.basename(inventory.file)} (${inventory.format}).`,
    "# Keys are described in inventory/README.md; check it with: groundcrew inventory show -i FILE",
    ...(writesPlaintextSecrets(inventory)
      ? ["# It holds secrets in clear, copied from the source: keep it private."]
      : []),
  ];
  return `${header.join("\n")}\n${stringify(body)}`;
}

/** Whether toYaml writes a secret in clear (a literal token, a plaintext sudo password). */
export function writesPlaintextSecrets(inventory: Inventory): boolean {
  return (
    inventory.cluster.token.source === "value" ||
    inventory.hosts.some(
      ({ sudo }) => sudo.mode === "password" && sudo.value !== undefined && sudo.passwordEnv === undefined,
    )
  );
}

function hostEntry(host: InventoryHost, options: ToYamlOptions): Plain {
  const { ssh, sudo, vars } = host;
  return {
    name: host.name,
    ...(host.address === host.name ? {} : { address: host.address }),
    user: ssh.user,
    ...(ssh.port === 22 ? {} : { port: ssh.port }),
    ...(ssh.keyFile === undefined ? {} : { key: homeRelative(ssh.keyFile, options) }),
    ...(sudo.mode === "passwordless"
      ? {}
      : {
          sudo: {
            ...(sudo.passwordEnv === undefined ? {} : { passwordEnv: sudo.passwordEnv }),
            ...(sudo.prompt ? { prompt: true } : {}),
            ...(sudo.value === undefined || sudo.passwordEnv !== undefined
              ? {}
              : { password: sudo.value.reveal(), allowPlaintextPassword: true }),
          },
        }),
    role: host.role,
    ...(host.depot ? { depot: true } : {}),
    ...(vars.iface === undefined ? {} : { iface: vars.iface }),
    ...(vars.gpu ? { gpu: true } : {}),
    ...(Object.keys(vars.labels).length > 0 ? { labels: { ...vars.labels } } : {}),
    ...(vars.taints.length > 0 ? { taints: [...vars.taints] } : {}),
    ...(vars.installDocker ? { installDocker: true } : {}),
    ...(vars.installNvidiaDriver ? { installNvidiaDriver: true } : {}),
    ...(host.groups.length > 0 ? { groups: [...host.groups] } : {}),
  };
}

function addonEntry(addon: Addon, options: ToYamlOptions): Plain {
  const values =
    addon.values.source === "none"
      ? {}
      : {
          values:
            addon.values.source === "file"
              ? homeRelative(addon.values.path, options)
              : (parse(addon.values.yaml) as unknown),
        };
  return {
    name: addon.name,
    chart: addon.chart,
    ...(addon.version === undefined ? {} : { version: addon.version }),
    namespace: addon.namespace,
    ...values,
    ...(addon.images.length > 0 ? { images: [...addon.images] } : {}),
  };
}

/** `storage.nfs` with the defaults left out. */
function nfsEntry(nfs: NfsStorage): Plain {
  return {
    server: nfs.server,
    path: nfs.path,
    ...(nfs.storageClass === NFS_DEFAULTS.storageClass ? {} : { storageClass: nfs.storageClass }),
    ...(nfs.mountOptions.length === 0 ? {} : { mountOptions: [...nfs.mountOptions] }),
    ...(nfs.reclaimPolicy === NFS_DEFAULTS.reclaimPolicy ? {} : { reclaimPolicy: nfs.reclaimPolicy }),
    ...(nfs.archiveOnDelete === NFS_DEFAULTS.archiveOnDelete ? {} : { archiveOnDelete: nfs.archiveOnDelete }),
  };
}

function tokenEntry(token: TokenSource, options: ToYamlOptions): Plain {
  switch (token.source) {
    case "generate":
      return { generate: true };
    case "env":
      return { env: token.env };
    case "file":
      return { file: homeRelative(token.path, options) };
    case "value":
      return { value: token.value.reveal(), allowPlaintextToken: true };
  }
}

function clusterEntry({ cluster }: Inventory, options: ToYamlOptions): Plain {
  const unlessDefault = <T>(key: string, value: T, fallback: T): Plain =>
    JSON.stringify(value) === JSON.stringify(fallback) ? {} : { [key]: value };
  const registry = {
    ...unlessDefault("port", cluster.registry.port, CLUSTER_DEFAULTS.registryPort),
    ...unlessDefault("tls", cluster.registry.tls, CLUSTER_DEFAULTS.registryTls),
    ...unlessDefault("mirrors", [...cluster.registry.mirrors], [...CLUSTER_DEFAULTS.mirrors]),
  };
  return {
    token: tokenEntry(cluster.token, options),
    ...unlessDefault("clusterCidr", cluster.clusterCidr, CLUSTER_DEFAULTS.clusterCidr),
    ...unlessDefault("serviceCidr", cluster.serviceCidr, CLUSTER_DEFAULTS.serviceCidr),
    ...unlessDefault("httpPort", cluster.httpPort, CLUSTER_DEFAULTS.httpPort),
    ...unlessDefault("httpsPort", cluster.httpsPort, CLUSTER_DEFAULTS.httpsPort),
    ...(Object.keys(registry).length > 0 ? { registry } : {}),
  };
}

function homeRelative(file: string, { homeDir }: ToYamlOptions): string {
  if (homeDir === undefined) return file;
  const relative = path.relative(homeDir, file);
  return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative) ? `~/${relative}` : file;
}
