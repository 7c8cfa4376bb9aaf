import { createHash, randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { FatalError } from "./fatal.js";
import { isNotFound } from "./files.js";
import { nodeAnnotations, registeredLabels } from "./node-defaults.js";
import { registrationSchema, type NodeStatus, type Registration } from "./protocol.js";
import { randomPassword, sameSecret } from "./token.js";

/**
 * A Node as the datastore keeps it. `labels`, `annotations` and `taints`
 * are the Node's own (whoever set them: the kubelet and k3s at
 * registration, or `kubectl patch` later); `status` is the node's last report.
 */
const nodeRecordSchema = registrationSchema.extend({
  annotations: z.record(z.string()).default({}),
  name: z.string(),
  uid: z.string(),
  passwordHash: z.string(),
  createdAt: z.string(),
  lastHeartbeat: z.string(),
  podCidr: z.string(),
});
export type NodeRecord = z.infer<typeof nodeRecordSchema>;

const stateSchema = z.object({
  version: z.literal(1),
  embeddedEtcd: z.boolean(),
  adminToken: z.string(),
  nodes: z.array(nodeRecordSchema),
});
type State = z.infer<typeof stateSchema>;

export type RegisterOutcome = "registered" | "rejoined" | "password-rejected";
export type HeartbeatOutcome = "ok" | "not-found" | "password-rejected";

/**
 * The cluster's datastore, kept by the first server in
 * `<data-dir>/server/db/state.json` (0600): every Node with its node-password
 * hash (k3s's `<node>.node-password.k3s` secret), the admin bearer token and
 * whether the cluster has embedded etcd. Every change is written through
 * (atomically) so `systemctl restart k3s` keeps the cluster.
 */
export class ClusterState {
  private constructor(
    private readonly file: string,
    private state: State,
  ) {}

  static stateFile(dataDir: string): string {
    return path.join(dataDir, "server", "db", "state.json");
  }

  /** Whether a datastore exists: then this server is (and stays) the cluster's first server. */
  static exists(dataDir: string): boolean {
    try {
      readFileSync(ClusterState.stateFile(dataDir));
      return true;
    } catch {
      return false;
    }
  }

  /** Opens the datastore, creating it on first start. `cluster-init` converts a cluster to embedded etcd. */
  static open(dataDir: string, clusterInit: boolean): ClusterState {
    const file = ClusterState.stateFile(dataDir);
    let state: State;
    try {
      const parsed = stateSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
      if (!parsed.success) throw new FatalError(`the datastore ${file} is damaged: ${parsed.error.message}`);
      state = parsed.data;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      state = { version: 1, embeddedEtcd: clusterInit, adminToken: randomPassword(), nodes: [] };
    }
    const opened = new ClusterState(file, state);
    if (clusterInit) opened.state = { ...opened.state, embeddedEtcd: true };
    opened.save();
    return opened;
  }

  get embeddedEtcd(): boolean {
    return this.state.embeddedEtcd;
  }

  /** Secret: the bearer token of /etc/rancher/k3s/k3s.yaml. */
  get adminToken(): string {
    return this.state.adminToken;
  }

  nodes(): readonly NodeRecord[] {
    return this.state.nodes;
  }

  node(name: string): NodeRecord | undefined {
    return this.state.nodes.find((node) => node.name === name);
  }

  /**
   * Registers a node, or re-registers one whose node password matches. As
   * in k3s, taints count only at first registration; labels set since (by
   * `kubectl patch`) stay, except that node-label keys get their configured
   * values again and the kubelet's and a server's role labels are restored
   * (registeredLabels). Addresses, node info and status are refreshed.
   * Another password under the same name is refused.
   */
  register(name: string, password: string, registration: Registration): RegisterOutcome {
    const existing = this.node(name);
    const now = new Date().toISOString();
    const embeddedEtcd = this.state.embeddedEtcd;
    if (existing !== undefined) {
      if (!sameSecret(existing.passwordHash, hashPassword(password))) return "password-rejected";
      const updated: NodeRecord = {
        ...existing,
        ...registration,
        labels: registeredLabels(existing.labels, registration, embeddedEtcd),
        annotations: { ...existing.annotations, ...nodeAnnotations(registration) },
        taints: existing.taints,
        lastHeartbeat: now,
      };
      if (registration.externalIp === undefined) delete updated.externalIp;
      this.replace(updated);
      return "rejoined";
    }
    this.state = {
      ...this.state,
      nodes: [
        ...this.state.nodes,
        {
          ...registration,
          labels: registeredLabels({}, registration, embeddedEtcd),
          annotations: nodeAnnotations(registration),
          name,
          uid: randomUUID(),
          passwordHash: hashPassword(password),
          createdAt: now,
          lastHeartbeat: now,
          podCidr: this.freePodCidr(),
        },
      ],
    };
    this.save();
    return "registered";
  }

  /** A node's heartbeat, with its current status when it sent one. */
  heartbeat(name: string, password: string, status?: NodeStatus): HeartbeatOutcome {
    const existing = this.node(name);
    if (existing === undefined) return "not-found";
    if (!sameSecret(existing.passwordHash, hashPassword(password))) return "password-rejected";
    this.replace({
      ...existing,
      ...(status === undefined ? {} : { status }),
      lastHeartbeat: new Date().toISOString(),
    });
    return "ok";
  }

  /** Stores a Node's new labels, annotations and taints (a patch through the API); undefined when there is no such node. */
  updateMetadata(
    name: string,
    changes: Pick<NodeRecord, "labels" | "annotations" | "taints">,
  ): NodeRecord | undefined {
    const existing = this.node(name);
    if (existing === undefined) return undefined;
    const updated = {
      ...existing,
      labels: changes.labels,
      annotations: changes.annotations,
      taints: changes.taints,
    };
    this.replace(updated);
    return updated;
  }

  /** Deletes a Node and its node-password record; false when there was none. */
  remove(name: string): boolean {
    if (this.node(name) === undefined) return false;
    this.state = { ...this.state, nodes: this.state.nodes.filter((node) => node.name !== name) };
    this.save();
    return true;
  }

  private replace(record: NodeRecord): void {
    this.state = {
      ...this.state,
      nodes: this.state.nodes.map((node) => (node.name === record.name ? record : node)),
    };
    this.save();
  }

  private freePodCidr(): string {
    const used = new Set(this.state.nodes.map((node) => node.podCidr));
    for (let index = 0; index < 256; index += 1) {
      const cidr = `10.42.${index}.0/24`;
      if (!used.has(cidr)) return cidr;
    }
    throw new FatalError("no free pod CIDR in 10.42.0.0/16");
  }

  private save(): void {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, this.file);
  }
}

function hashPassword(password: string): string {
  return createHash("sha256").update(password).digest("hex");
}
