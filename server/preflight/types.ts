import type { HostFacts } from "../../shared/facts.js";

export type CheckStatus = "pass" | "warn" | "fail";

/** One preflight verdict for one host; `reason` says why in words a user can act on. */
export interface CheckResult {
  readonly host: string;
  readonly check: CheckId;
  readonly status: CheckStatus;
  readonly reason: string;
}

/** The preflights, in the order the `check` table shows them. */
export const CHECK_IDS = [
  "reach",
  "sudo",
  "agent",
  "os",
  "arch",
  "systemd",
  "cpu",
  "memory",
  "disk",
  "hostname",
  "machine-id",
  "iface",
  "clock",
  "gpu",
  "ports",
  "nfs",
] as const;

export type CheckId = (typeof CHECK_IDS)[number];

/** What preflights need to know about an inventory host. */
export interface PreflightHost {
  readonly name: string;
  readonly role: "server" | "worker";
  readonly depot: boolean;
  readonly iface?: string | undefined;
  readonly gpu: boolean;
  /** The depot registry's port (inventory cluster.registry.port); checked on the depot. */
  readonly registryPort?: number;
  /** The inventory deploys NFS storage (`storage.nfs`): the host must be able to mount NFS volumes. */
  readonly nfs?: boolean;
}

/** What was learned from one host: facts and the clock offset, or why they could not be had. */
export type HostProbe =
  | { readonly ok: true; readonly facts: HostFacts; readonly clockSkewMs: number; readonly agentPath: string }
  | { readonly ok: false; readonly failedAt: "reach" | "sudo" | "agent"; readonly reason: string };
