import { NFS_MOUNT_HELPERS, type HostFacts } from "../../shared/facts.js";
import {
  CLOCK_FAIL_MS,
  CLOCK_WARN_MS,
  MIN_CPUS,
  MIN_FREE_BYTES,
  MIN_MEMORY_BYTES,
  SUPPORTED_ARCH,
  SUPPORTED_OS,
  requiredPorts,
} from "./requirements.js";
import type { CheckId, CheckStatus, PreflightHost } from "./types.js";

type Verdict = readonly [CheckStatus, string];
type HostCheck = (host: PreflightHost, facts: HostFacts, skewMs: number) => Verdict;

const gb = (bytes: number): string => `${(bytes / 10 ** 9).toFixed(1)} GB`;

/** Checks that look at one host alone. Pure: facts in, verdict out. */
export const HOST_CHECKS: Readonly<Partial<Record<CheckId, HostCheck>>> = {
  os: (_host, { os }) => {
    const versions = SUPPORTED_OS[os.id];
    if (versions === undefined)
      return ["fail", `${os.prettyName || os.id} is not supported (Ubuntu or Debian)`];
    return versions.includes(os.versionId)
      ? ["pass", os.prettyName]
      : ["warn", `${os.prettyName}: tested on ${os.id} ${versions.join(", ")}`];
  },
  arch: (_host, { arch, machine }) =>
    (SUPPORTED_ARCH as readonly string[]).includes(arch)
      ? ["pass", arch]
      : ["fail", `${machine} is not supported (amd64 or arm64)`],
  systemd: (_host, { systemd }) =>
    systemd.pid1
      ? ["pass", "systemd is PID 1"]
      : ["fail", "systemd is not PID 1: the agent and k3s run as systemd units"],
  cpu: (_host, { cpu }) =>
    cpu.count >= MIN_CPUS
      ? ["pass", `${cpu.count} CPUs`]
      : ["fail", `${cpu.count} CPU(s); at least ${MIN_CPUS} needed`],
  memory: (_host, { memory }) =>
    memory.totalBytes >= MIN_MEMORY_BYTES
      ? ["pass", gb(memory.totalBytes)]
      : ["fail", `${gb(memory.totalBytes)} of memory; at least 4 GB needed`],
  disk: (_host, { space }) => {
    const data =
      space.find((entry) => entry.path === "/var/lib") ?? space.find((entry) => entry.path === "/");
    if (data === undefined) return ["fail", "free space under /var/lib could not be read"];
    return data.availableBytes >= MIN_FREE_BYTES
      ? ["pass", `${gb(data.availableBytes)} free in ${data.path}`]
      : ["fail", `${gb(data.availableBytes)} free in ${data.path}; at least 10 GB needed`];
  },
  iface: (host, { network }) => {
    if (host.iface === undefined) return ["pass", "default route interface"];
    const iface = network.find((candidate) => candidate.name === host.iface);
    if (iface === undefined) {
      return ["fail", `no interface ${host.iface} (has ${network.map((n) => n.name).join(", ")})`];
    }
    const inet = iface.addresses.find((address) => address.family === "inet");
    if (inet === undefined) return ["fail", `${host.iface} has no IPv4 address`];
    return iface.up ? ["pass", `${host.iface} ${inet.address}`] : ["fail", `${host.iface} is down`];
  },
  clock: (_host, _facts, skewMs) => {
    const seconds = `${(skewMs / 1000).toFixed(1)} s`;
    const size = Math.abs(skewMs);
    if (size <= CLOCK_WARN_MS) return ["pass", `${seconds} from the provisioner`];
    if (size <= CLOCK_FAIL_MS)
      return ["warn", `clock ${seconds} off the provisioner's; etcd and TLS want sync`];
    return [
      "fail",
      `clock ${seconds} off the provisioner's: fix time sync (certificates would not validate)`,
    ];
  },
  gpu: (host, { gpus }) => {
    if (host.gpu) {
      return gpus.length > 0
        ? ["pass", `${gpus.length} NVIDIA GPU(s)`]
        : ["fail", "the inventory says gpu: true but no NVIDIA display device is in sysfs"];
    }
    return gpus.length > 0
      ? ["warn", `${gpus.length} NVIDIA GPU(s) present but gpu is not set: they will not be scheduled`]
      : ["pass", "no GPU expected"];
  },
  ports: (host, { listening, installedSteps }) => {
    const busy = requiredPorts(host.role, host.depot, host.registryPort).filter(
      (need) =>
        listening[need.protocol].includes(need.port) &&
        !(need.owner !== undefined && installedSteps.includes(need.owner)),
    );
    return busy.length === 0
      ? ["pass", "all required ports free"]
      : [
          "fail",
          `in use: ${busy.map((need) => `${need.port}/${need.protocol} (${need.purpose})`).join(", ")}`,
        ];
  },
  nfs: (host, { nfsMountHelper }) => {
    if (host.nfs !== true) return ["pass", "no NFS storage in the inventory"];
    if (nfsMountHelper !== null) return ["pass", `NFS client ${nfsMountHelper}`];
    return [
      "fail",
      `storage.nfs is set but ${host.name} has no ${NFS_MOUNT_HELPERS.join(" or ")}: kubelet mounts NFS ` +
        `volumes with it. Install nfs-common on ${host.name} (apt-get install nfs-common, or its .debs ` +
        "with dpkg --install where there is no package mirror) and run again",
    ];
  },
};
