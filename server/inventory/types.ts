import type { Secret } from "../../shared/secret.js";

/** How a host gains root: passwordless sudo, or sudo with a password from env, a prompt or the file. */
export type SudoSettings =
  | { readonly mode: "passwordless" }
  | {
      readonly mode: "password";
      /** Environment variable holding the password. */
      readonly passwordEnv?: string;
      /** Ask on the terminal when no password is otherwise available. */
      readonly prompt: boolean;
      /** The password: from `passwordEnv` when that is set, else a plaintext one the file opted in to. */
      readonly value?: Secret;
    };

export type HostRole = "server" | "worker";

/** One fleet machine, validated, with every default applied. */
export interface InventoryHost {
  /** Inventory name; becomes the k3s node name (lowercase RFC 1123). */
  readonly name: string;
  /** IP address or DNS name to reach it over SSH (defaults to `name`). */
  readonly address: string;
  readonly ssh: {
    readonly user: string;
    readonly port: number;
    /** Absolute path of the private key ("~" expanded, relative paths taken from the inventory's folder). */
    readonly keyFile?: string;
    /** True when there is no key file: authenticate through $SSH_AUTH_SOCK. */
    readonly useAgent: boolean;
  };
  readonly sudo: SudoSettings;
  readonly role: HostRole;
  /** The one host that serves the bundle's registry and files to the others. */
  readonly depot: boolean;
  readonly vars: {
    readonly iface?: string;
    readonly gpu: boolean;
    readonly labels: Readonly<Record<string, string>>;
    readonly taints: readonly string[];
    readonly installDocker: boolean;
    readonly installNvidiaDriver: boolean;
  };
  /** INI groups the host is in (in order of appearance), or the YAML `groups:` list. */
  readonly groups: readonly string[];
  /** Where the host is defined. */
  readonly source: { readonly file: string; readonly line: number };
}

/** Where the k3s join token comes from. */
export type TokenSource =
  | { readonly source: "generate" }
  | { readonly source: "env"; readonly env: string }
  | { readonly source: "file"; readonly path: string }
  | { readonly source: "value"; readonly value: Secret };

export interface ClusterVars {
  readonly token: TokenSource;
  readonly clusterCidr: string;
  readonly serviceCidr: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly registry: {
    readonly port: number;
    readonly tls: boolean;
    readonly mirrors: readonly string[];
  };
}

/** Where an add-on's Helm values come from: the chart's defaults, YAML written inline, or a values file. */
export type AddonValues =
  | { readonly source: "none" }
  | { readonly source: "inline"; readonly yaml: string }
  | { readonly source: "file"; readonly path: string };

/**
 * A Helm chart deployed offline from the bundle through k3s's HelmChart
 * manifests (YAML inventories only). Values travel in clear in plans and on
 * the servers' disks: they must hold no secret.
 */
export interface Addon {
  /** RFC 1123 label, at most 53 (a Helm release name); the HelmChart's name. */
  readonly name: string;
  /** The chart's helm-chart artifact in the bundle: its path or its name. */
  readonly chart: string;
  /** When given, the bundle artifact's version must be this. */
  readonly version?: string;
  /** The namespace the chart is installed into (created when missing). */
  readonly namespace: string;
  readonly values: AddonValues;
  /** Image references the chart needs; each must be in one of the bundle's image archives. */
  readonly images: readonly string[];
  /** Line of the add-on in the inventory, for messages. */
  readonly line: number;
}

/** How a PersistentVolume of the NFS class is reclaimed when its claim is deleted. */
export type NfsReclaimPolicy = "Delete" | "Retain";

/**
 * An NFS export groundcrew does not run but points k3s at: the NFS subdir
 * external provisioner makes one subdirectory of it per PersistentVolumeClaim
 * of `storageClass` (ReadWriteMany). Never the cluster's default class.
 */
export interface NfsStorage {
  /** IP address or DNS name of the NFS server; every node must reach it. */
  readonly server: string;
  /** The export's absolute path on the server. */
  readonly path: string;
  /** The StorageClass's name (a DNS subdomain, not k3s's `local-path`). */
  readonly storageClass: string;
  /** NFS mount options for the volumes of the class (`nfsvers=4.1`, `hard`), in order. */
  readonly mountOptions: readonly string[];
  readonly reclaimPolicy: NfsReclaimPolicy;
  /** On delete, whether the provisioner renames a volume's directory to `archived-...` instead of removing it. */
  readonly archiveOnDelete: boolean;
  /** Line of `nfs:` in the inventory, for messages. */
  readonly line: number;
}

/** Cluster storage groundcrew deploys besides k3s's own local-path class. */
export interface StorageSettings {
  readonly nfs?: NfsStorage;
}

export interface Inventory {
  readonly file: string;
  readonly format: "yaml" | "ini";
  readonly hosts: readonly InventoryHost[];
  readonly cluster: ClusterVars;
  /** Overrides for the address and port agents dial back to on the provisioner. */
  readonly provisioner: { readonly address?: string; readonly port?: number };
  /** Bundle settings: `trust` lists public keys (absolute paths) a bundle must be signed with. */
  readonly bundle: { readonly trust: readonly string[] };
  /** Helm charts to deploy from the bundle; empty for INI inventories. */
  readonly addons: readonly Addon[];
  /** Extra storage classes (YAML `storage:`); empty for INI inventories. */
  readonly storage: StorageSettings;
}

/** What parsing may consult besides the file text; nothing else is touched. */
export interface InventoryDeps {
  /** Whether a (key or token) file exists; only asked about absolute paths. */
  readonly fileExists: (path: string) => boolean;
  /** Home directory that "~" in paths expands to. */
  readonly homeDir: string;
  /** Environment: `USER` (default SSH user) and variables named by `sudo.passwordEnv`. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const CLUSTER_DEFAULTS = {
  clusterCidr: "10.42.0.0/16",
  serviceCidr: "10.43.0.0/16",
  httpPort: 80,
  httpsPort: 443,
  registryPort: 5000,
  registryTls: true,
  mirrors: ["docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "nvcr.io"],
} as const;
