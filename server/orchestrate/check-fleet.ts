import type { Inventory, InventoryHost } from "../inventory/types.js";
import { runPreflights } from "../preflight/run-preflights.js";
import type { CheckResult, HostProbe, PreflightHost } from "../preflight/types.js";
import type { AgentBinary } from "../ssh/push-agent.js";
import { connectHost, type ConnectOptions, type HostConnection } from "./host-session.js";
import { mapLimit } from "./pool.js";
import { probeHost } from "./probe.js";
import { silentLogger } from "../log/logger.js";

export interface CheckOptions extends ConnectOptions {
  readonly agent: AgentBinary;
  readonly concurrency: number;
  /** Called as each host is reached and probed, for live progress. */
  readonly onProbed?: (host: string, probe: HostProbe) => void;
  /** The agent being sent to a host that lacks this build (bytes so far, total). */
  readonly onTransfer?: (host: string, bytesDone: number, bytesTotal: number) => void;
}

export interface FleetCheck {
  readonly results: CheckResult[];
  readonly probes: ReadonlyMap<string, HostProbe>;
  /** Open sessions to every host that was reached; the caller closes them. */
  readonly connections: ReadonlyMap<string, HostConnection>;
  readonly failed: boolean;
}

/** What the preflights check `host` for: its own settings and the inventory's that every host must serve. */
export function preflightHost(
  host: InventoryHost,
  inventory: Pick<Inventory, "cluster" | "storage">,
): PreflightHost {
  return {
    name: host.name,
    role: host.role,
    depot: host.depot,
    iface: host.vars.iface,
    gpu: host.vars.gpu,
    registryPort: inventory.cluster.registry.port,
    // Every host runs k3s, and kubelet on any node may mount the class's volumes.
    nfs: inventory.storage.nfs !== undefined,
  };
}

/**
 * Reaches every host in parallel (bounded), probes it and runs the
 * preflights. Reads only: the agent's cache directory is the one thing it
 * writes on a host.
 */
export async function checkFleet(inventory: Inventory, options: CheckOptions): Promise<FleetCheck> {
  const connections = new Map<string, HostConnection>();
  const probes = new Map<string, HostProbe>();
  await mapLimit(inventory.hosts, options.concurrency, async (host) => {
    let probe: HostProbe;
    try {
      const connection = await connectHost(host, options);
      connections.set(host.name, connection);
      probe = await probeHost(connection, options.agent, (done, total) =>
        options.onTransfer?.(host.name, done, total),
      );
    } catch (error) {
      probe = {
        ok: false,
        failedAt: "reach",
        reason: error instanceof Error ? error.message : String(error),
      };
    }
    probes.set(host.name, probe);
    (options.log ?? silentLogger).info(
      {
        host: host.name,
        ok: probe.ok,
        ...(probe.ok ? {} : { failedAt: probe.failedAt, reason: probe.reason }),
      },
      "host probed",
    );
    options.onProbed?.(host.name, probe);
  });
  const results = runPreflights(
    inventory.hosts.map((host) => preflightHost(host, inventory)),
    probes,
  );
  return { results, probes, connections, failed: results.some((result) => result.status === "fail") };
}

export function closeAll(connections: ReadonlyMap<string, HostConnection>): void {
  for (const connection of connections.values()) connection.session.close();
}
