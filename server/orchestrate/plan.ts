import { randomBytes } from "node:crypto";
import type { Plan, PlanStep } from "../../shared/protocol.js";
import type { InventoryHost } from "../inventory/types.js";

/** Host preparation (step catalog §1), in order. Every host gets it. */
export function hostPreparation(): PlanStep[] {
  return [
    { id: "host.swap-off", title: "Turn swap off (policy; k3s tolerates swap)", params: {} },
    { id: "host.kernel-modules", title: "Load overlay and br_netfilter, now and at boot", params: {} },
    {
      id: "host.sysctl",
      title: "Set kernel parameters for k3s (forwarding, bridge netfilter)",
      params: { ipv6: false },
    },
  ];
}

/**
 * The plan one host runs in one run: fetching its artifacts (when it needs
 * any), host preparation, then the installs its artifacts allow (`installs`).
 */
export function planFor(
  runId: string,
  host: InventoryHost,
  action: Plan["action"] = "apply",
  fetch?: PlanStep,
  installs: readonly PlanStep[] = [],
): Plan {
  const steps = [...(fetch === undefined ? [] : [fetch]), ...hostPreparation(), ...installs];
  return { runId, host: host.name, action, steps };
}

/** An artifact reference that satisfies a step's schema in a reset plan, where no bundle is at hand. */
function noArtifact(kind: "registry" | "k3s-binary" | "docker-static" | "nvidia-driver") {
  return { sha256: "0".repeat(64), size: 0, path: "(reset: from the ledger)", kind };
}

/**
 * What `reset` undoes on every host, in apply order (the agent undoes in
 * reverse: k3s's manifests (their objects deleted while k3s still runs),
 * k3s, the GPU stack (toolkit, driver, nouveau blacklist), Docker, the
 * registry, then host settings). Undo works from
 * the host's ledger alone, so install steps get parameters that only
 * satisfy their schemas; a step that never ran there has nothing recorded
 * and is skipped.
 */
export function resetSteps(host: string): PlanStep[] {
  return [
    ...hostPreparation(),
    { id: "host.firewall", title: "Open the cluster's ports in the host firewall", params: { rules: [] } },
    { id: "host.default-route", title: "Make sure there is a default route", params: {} },
    {
      id: "registry.install",
      title: "Run the depot registry",
      params: { binary: { artifact: noArtifact("registry"), from: "tarball" }, port: 5000 },
    },
    { id: "docker.install", title: "Install Docker from the bundle", params: { debs: [] } },
    {
      id: "docker.static",
      title: "Install Docker from the bundle's static binaries",
      params: { artifact: noArtifact("docker-static") },
    },
    { id: "gpu.nouveau", title: "Blacklist nouveau for the NVIDIA driver", params: {} },
    {
      id: "gpu.driver",
      title: "Install the NVIDIA driver",
      params: { runfile: noArtifact("nvidia-driver") },
    },
    { id: "gpu.toolkit", title: "Install the NVIDIA container toolkit", params: { debs: [] } },
    {
      id: "k3s.install",
      title: "Install k3s",
      params: {
        role: "agent",
        binary: noArtifact("k3s-binary"),
        config: { "node-name": host },
        tokenFile: "/dev/null",
      },
    },
    { id: "k3s.manifests", title: "Place k3s auto-deploy manifests", params: { manifests: [] } },
  ];
}

/** A run id that sorts by start time: r20261121-120000-ab12. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `r${stamp}-${randomBytes(2).toString("hex")}`;
}

/**
 * Orchestration order (DESIGN.md): the depot, the first server, the other
 * servers, then the workers. Hosts in one phase work in parallel.
 */
export function phases(hosts: readonly InventoryHost[]): InventoryHost[][] {
  const servers = hosts.filter((host) => host.role === "server");
  const depot = hosts.filter((host) => host.depot);
  const first = servers
    .filter((host) => !host.depot)
    .slice(0, depot.some((host) => host.role === "server") ? 0 : 1);
  const placed = new Set([...depot, ...first].map((host) => host.name));
  const otherServers = servers.filter((host) => !placed.has(host.name));
  const workers = hosts.filter((host) => host.role === "worker" && !placed.has(host.name));
  return [depot, first, otherServers, workers].filter((phase) => phase.length > 0);
}
