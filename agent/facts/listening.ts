import type { HostFacts } from "../../shared/facts.js";
import type { Fs } from "../../shared/host-io.js";

const TCP_LISTEN = "0A";

/**
 * Local ports from a /proc/net/{tcp,tcp6,udp,udp6} table. For TCP only
 * sockets in LISTEN state count; for UDP every bound socket with no remote
 * peer does (that is how a UDP server looks).
 */
export function parseSocketTable(text: string, protocol: "tcp" | "udp"): number[] {
  const ports = new Set<number>();
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [, local, remote, state] = fields;
    if (local === undefined || remote === undefined || state === undefined) continue;
    const port = Number.parseInt(local.split(":")[1] ?? "", 16);
    if (!Number.isInteger(port) || port === 0) continue;
    const listening = protocol === "tcp" ? state.toUpperCase() === TCP_LISTEN : /^0+:0000$/.test(remote);
    if (listening) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

/** TCP and UDP ports something already listens on (IPv4 and IPv6). Missing tables count as empty. */
export async function readListening(fs: Fs): Promise<HostFacts["listening"]> {
  const table = async (name: string, protocol: "tcp" | "udp"): Promise<number[]> =>
    parseSocketTable((await fs.readTextIfExists(`/proc/net/${name}`)) ?? "", protocol);
  const [tcp4, tcp6, udp4, udp6] = await Promise.all([
    table("tcp", "tcp"),
    table("tcp6", "tcp"),
    table("udp", "udp"),
    table("udp6", "udp"),
  ]);
  const merge = (a: number[], b: number[]): number[] => [...new Set([...a, ...b])].sort((x, y) => x - y);
  return { tcp: merge(tcp4, tcp6), udp: merge(udp4, udp6) };
}

/** Where the agent keeps its ownership ledger (one `<step>.json` per step that changed the host). */
const LEDGER_DIR = "/var/lib/groundcrew/agent/state/ledger";

/** Ids of the steps groundcrew recorded changes for on this host: whose listening ports are groundcrew's own. */
export async function readInstalledSteps(fs: Fs): Promise<string[]> {
  const names = await fs.readDir(LEDGER_DIR).catch(() => []);
  return names.filter((name) => name.endsWith(".json")).map((name) => name.slice(0, -".json".length));
}
