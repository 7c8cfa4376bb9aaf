/**
 * What a k3s node needs, as the preflights enforce it. Sources: k3s
 * requirements (2 CPUs / 4 GB for servers is the documented HA floor; we ask
 * the same of workers, which run GPU workloads), and the inbound port table
 * of ../shared/reference/step-catalog.md H5.
 */
export const MIN_CPUS = 2;
/** 4 GB of RAM: the kernel reports a little less than the DIMMs hold, so MemTotal ≥ 3.5 GiB passes. */
export const MIN_MEMORY_BYTES = 3.5 * 2 ** 30;
/** 10 GB free where k3s, containerd and the registry keep their data. */
export const MIN_FREE_BYTES = 10 * 10 ** 9;
export const CLOCK_WARN_MS = 2_000;
export const CLOCK_FAIL_MS = 60_000;

export const SUPPORTED_OS: Readonly<Record<string, readonly string[]>> = {
  ubuntu: ["20.04", "22.04", "24.04"],
  debian: ["12"],
};

export const SUPPORTED_ARCH = ["amd64", "arm64"] as const;

export interface PortNeed {
  readonly port: number;
  readonly protocol: "tcp" | "udp";
  readonly purpose: string;
  /** The step whose service listens there: once groundcrew installed it, the port in use is its own. */
  readonly owner?: "k3s.install" | "registry.install";
}

/** Ports that must be free on a host before groundcrew installs onto it. */
export function requiredPorts(role: "server" | "worker", depot: boolean, registryPort = 5000): PortNeed[] {
  const all: PortNeed[] = [
    { port: 10250, protocol: "tcp", purpose: "kubelet", owner: "k3s.install" },
    { port: 8472, protocol: "udp", purpose: "flannel VXLAN", owner: "k3s.install" },
  ];
  const server: PortNeed[] =
    role === "server"
      ? [
          { port: 6443, protocol: "tcp", purpose: "Kubernetes API", owner: "k3s.install" },
          { port: 2379, protocol: "tcp", purpose: "etcd client", owner: "k3s.install" },
          { port: 2380, protocol: "tcp", purpose: "etcd peer", owner: "k3s.install" },
        ]
      : [];
  const registry: PortNeed[] = depot
    ? [{ port: registryPort, protocol: "tcp", purpose: "depot registry", owner: "registry.install" }]
    : [];
  return [...server, ...all, ...registry];
}
