import { hostname, networkInterfaces, release } from "node:os";
import { readOptional } from "./files.js";

/** Go's name for this machine's architecture (the kubernetes.io/arch label). */
export function goArch(): string {
  return process.arch === "x64" ? "amd64" : process.arch;
}

/** The default node name: the hostname, lower-cased, as k3s uses it. */
export function defaultNodeName(): string {
  return hostname().toLowerCase();
}

/** The PRETTY_NAME of /etc/os-release (the node's osImage). */
export async function osImage(): Promise<string> {
  const text = (await readOptional("/etc/os-release")) ?? "";
  const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
  return match?.[1] ?? "Linux";
}

export function kernelVersion(): string {
  return release();
}

/** The host's IPv4 addresses outside loopback and the bridges the double (or k3s) creates. */
export function hostAddresses(): string[] {
  const addresses: string[] = [];
  for (const [name, infos] of Object.entries(networkInterfaces())) {
    if (name === "cni0" || name.startsWith("flannel")) continue;
    for (const entry of infos ?? []) {
      if (entry.family === "IPv4" && !entry.internal) addresses.push(entry.address);
    }
  }
  return addresses;
}
