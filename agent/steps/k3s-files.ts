import { stringify } from "yaml";
import { z } from "zod";

/** Where k3s keeps everything (step catalog §4). */
export const K3S = {
  binary: "/usr/local/bin/k3s",
  symlinks: ["/usr/local/bin/kubectl", "/usr/local/bin/crictl", "/usr/local/bin/ctr"],
  configDir: "/etc/rancher/k3s",
  config: "/etc/rancher/k3s/config.yaml",
  registries: "/etc/rancher/k3s/registries.yaml",
  registryCa: "/etc/rancher/k3s/groundcrew-registry-ca.crt",
  kubeconfig: "/etc/rancher/k3s/k3s.yaml",
  dataDir: "/var/lib/rancher/k3s",
  imagesDir: "/var/lib/rancher/k3s/agent/images",
} as const;

/**
 * Paths k3s itself creates at run time that its own uninstall scripts
 * remove: each one that did not exist before groundcrew installed k3s is
 * recorded and deleted by undo. /etc/rancher/node (the node password) is
 * among them, unlike in k3s-uninstall.sh, so a reset host can join again.
 */
export const K3S_RUNTIME_TREES = [
  "/etc/rancher",
  "/var/lib/rancher",
  "/var/lib/kubelet",
  "/var/lib/cni",
  "/run/k3s",
  "/run/flannel",
] as const;

export type K3sRole = "server" | "agent";

export function unitName(role: K3sRole): string {
  return role === "server" ? "k3s.service" : "k3s-agent.service";
}

export function unitPath(role: K3sRole): string {
  return `/etc/systemd/system/${unitName(role)}`;
}

/**
 * groundcrew's own unit (no install.sh, no .env file: config.yaml is the one
 * source of truth). Type=exec rather than notify; readiness is checked by
 * the step. KillMode=process and Delegate=yes as upstream, so a restart does
 * not kill running pods.
 */
export function renderUnit(role: K3sRole): string {
  return [
    "# Written by groundcrew (k3s.install). Settings live in /etc/rancher/k3s/config.yaml.",
    "[Unit]",
    `Description=Lightweight Kubernetes (k3s ${role}, installed by groundcrew)`,
    "Documentation=https://k3s.io",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=exec",
    "ExecStartPre=-/sbin/modprobe br_netfilter",
    "ExecStartPre=-/sbin/modprobe overlay",
    `ExecStart=${K3S.binary} ${role}`,
    "KillMode=process",
    "Delegate=yes",
    "LimitNOFILE=1048576",
    "LimitNPROC=infinity",
    "LimitCORE=infinity",
    "TasksMax=infinity",
    "TimeoutStartSec=0",
    "Restart=always",
    "RestartSec=5s",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** config.yaml keys groundcrew sets (flag names without dashes). The token is added from its file, never a param. */
export const k3sConfigSchema = z
  .object({
    "node-name": z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/),
    "node-ip": z.string().min(1).max(64).optional(),
    "flannel-iface": z.string().max(15).optional(),
    "node-label": z.array(z.string().max(317)).max(64).default([]),
    "node-taint": z.array(z.string().max(317)).max(64).default([]),
    server: z
      .string()
      .regex(/^https:\/\/\S+:\d+$/)
      .optional(),
    "cluster-init": z.boolean().optional(),
    "tls-san": z.array(z.string().max(253)).max(32).optional(),
    "cluster-cidr": z.string().max(64).optional(),
    "service-cidr": z.string().max(64).optional(),
    "write-kubeconfig-mode": z
      .string()
      .regex(/^0[0-7]{3}$/)
      .optional(),
    "disable-default-registry-endpoint": z.boolean().optional(),
  })
  .strict();
export type K3sConfig = z.infer<typeof k3sConfigSchema>;

/** config.yaml: the plan's keys plus the join token (mode 0600: it holds a secret). */
export function renderConfig(config: K3sConfig, token: string): string {
  const body = Object.fromEntries(
    Object.entries({ ...config, token }).filter(([, value]) => !(Array.isArray(value) && value.length === 0)),
  );
  return `# Written by groundcrew (k3s.install).\n${stringify(body)}`;
}

export const registryMirrorSchema = z
  .object({
    /** host:port of the depot registry. */
    endpoint: z.string().regex(/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/),
    /** Registries whose images the depot serves (docker.io, registry.k8s.io, ...). */
    mirrors: z.array(z.string().regex(/^[A-Za-z0-9.-]+(:\d+)?$/)).max(32),
    /** groundcrew's CA (PEM file on this host) when the registry serves TLS. */
    caFile: z.string().startsWith("/").optional(),
  })
  .strict();
export type RegistryMirror = z.infer<typeof registryMirrorSchema>;

/**
 * K3: every mirrored registry, and the depot itself, served from the depot;
 * with TLS the CA is a file of ours, with plain HTTP the endpoint says http://.
 */
export function renderRegistries(registry: RegistryMirror): string {
  const scheme = registry.caFile === undefined ? "http" : "https";
  const endpoint = [`${scheme}://${registry.endpoint}`];
  const mirrors = Object.fromEntries(
    [...registry.mirrors, registry.endpoint].map((name) => [name, { endpoint }]),
  );
  const configs =
    registry.caFile === undefined ? undefined : { [registry.endpoint]: { tls: { ca_file: K3S.registryCa } } };
  return `# Written by groundcrew (k3s.install).\n${stringify({ mirrors, ...(configs === undefined ? {} : { configs }) })}`;
}
