import type { Addon, HostRole, StorageSettings, SudoSettings, TokenSource } from "./types.js";

/**
 * The format-neutral middle of reading an inventory: what the YAML or INI
 * reader found, each value with the line that set it, before defaults are
 * filled in and cross-host checks run (validate.ts). Readers have already
 * reported syntax, unknown keys and wrongly typed values.
 */
export interface Located<T> {
  readonly value: T;
  readonly line: number;
}

/** Per-host settings as written; paths are as written ("~" not yet expanded). */
export interface HostValues {
  address: string;
  user: string;
  port: number;
  key: string;
  sudo: SudoSettings;
  role: HostRole;
  depot: boolean;
  iface: string;
  gpu: boolean;
  labels: Readonly<Record<string, string>>;
  taints: readonly string[];
  installDocker: boolean;
  installNvidiaDriver: boolean;
  groups: readonly string[];
}

/** Some of the values of V, each with the line that set it. */
export type Fields<V> = { [K in keyof V]?: Located<V[K]> };

export type HostFields = Fields<HostValues>;

export interface HostDraft {
  readonly name: Located<string>;
  readonly fields: HostFields;
}

export interface ClusterValues {
  token: TokenSource;
  clusterCidr: string;
  serviceCidr: string;
  httpPort: number;
  httpsPort: number;
  registryPort: number;
  registryTls: boolean;
  mirrors: readonly string[];
}

export type ClusterFields = Fields<ClusterValues>;

export interface ProvisionerValues {
  address: string;
  port: number;
}

export type ProvisionerFields = Fields<ProvisionerValues>;

export interface BundleValues {
  /** Public keys (paths as written) a bundle's signature must verify against. */
  trust: string[];
}

export type BundleFields = Fields<BundleValues>;

/** An add-on as read: checked field by field; a values file not yet resolved (`values.path` as written, at `valuesLine`). */
export interface AddonDraft extends Omit<Addon, "values"> {
  readonly values: Addon["values"];
  readonly valuesLine: number;
}

export interface InventoryDraft {
  /** Line for problems about the host list as a whole (no server, ...). */
  readonly hostsLine: number;
  readonly hosts: readonly HostDraft[];
  readonly cluster: ClusterFields;
  readonly provisioner: ProvisionerFields;
  readonly bundle: BundleFields;
  /** YAML `addons:`; INI inventories have none. */
  readonly addons?: readonly AddonDraft[];
  /** YAML `storage:`, already validated (it names no file); INI inventories have none. */
  readonly storage?: StorageSettings;
}

/** Lays a host's own settings over defaults: a host's value replaces the default, labels merge by key. */
export function withDefaults(defaults: HostFields, own: HostFields): HostFields {
  const merged: HostFields = { ...defaults, ...own };
  if (defaults.labels !== undefined && own.labels !== undefined) {
    merged.labels = { value: { ...defaults.labels.value, ...own.labels.value }, line: own.labels.line };
  }
  return merged;
}
