import { z } from "zod";

/**
 * What travels between nodes of the double (its own supervisor API under
 * /v1-k3s/, not k3s's): joining nodes authenticate with HTTP basic auth
 * (`server` or `node` and the token's password) and name themselves with
 * the headers k3s uses, `K3s-Node-Name` and `K3s-Node-Password`.
 */
export const NODE_NAME_HEADER = "k3s-node-name";
export const NODE_PASSWORD_HEADER = "k3s-node-password";

export const PATHS = {
  ping: "/ping",
  cacerts: "/cacerts",
  bootstrap: "/v1-k3s/server-bootstrap",
  register: "/v1-k3s/double/register",
  heartbeat: "/v1-k3s/double/heartbeat",
} as const;

export const taintSchema = z.object({
  key: z.string(),
  value: z.string().optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
});

/**
 * What a node's kubelet reports about its host with its registration and
 * every heartbeat: CPUs, memory and data-dir filesystem size in bytes, the
 * GPUs `nvidia-smi -L` lists, and the runtime handlers of its containerd config.
 */
export const nodeStatusSchema = z.object({
  cpu: z.number().int().min(1),
  memoryBytes: z.number().int().min(0),
  ephemeralStorageBytes: z.number().int().min(0),
  gpus: z.number().int().min(0),
  runtimes: z.array(z.string()),
});
export type NodeStatus = z.infer<typeof nodeStatusSchema>;

/**
 * A node's registration: its node-label labels (applied at every
 * registration, as k3s re-applies them at start), its node-taint taints
 * (only at first registration), addresses, node info and status.
 */
export const registrationSchema = z.object({
  role: z.enum(["server", "agent"]),
  labels: z.record(z.string()),
  taints: z.array(taintSchema),
  internalIp: z.string().min(1),
  externalIp: z.string().optional(),
  hostname: z.string().min(1),
  arch: z.string().min(1),
  osImage: z.string(),
  kernelVersion: z.string(),
  status: nodeStatusSchema,
});
export type Registration = z.infer<typeof registrationSchema>;

/** A heartbeat's body: the node's current status (absent: unchanged). */
export const heartbeatSchema = z.object({ status: nodeStatusSchema.optional() });

/** What a joining server receives: the cluster's CA (with its key), admin credentials, token passwords. */
export const bootstrapSchema = z.object({
  caCertPem: z.string(),
  caKeyPem: z.string(),
  adminToken: z.string(),
  serverPassword: z.string(),
  /** Present when the cluster has a separate agent token. */
  agentPassword: z.string().optional(),
  embeddedEtcd: z.boolean(),
});
export type Bootstrap = z.infer<typeof bootstrapSchema>;
