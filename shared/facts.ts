import { z } from "zod";

/**
 * Host facts as reported by `groundcrew-agent facts`. The server validates
 * every facts document it receives with `hostFactsSchema` (it crosses a trust
 * boundary); the agent produces it with the collectors in agent/facts/.
 */
export const FACTS_SCHEMA_VERSION = 1;

/** Where `mount -t nfs` finds its helper (util-linux looks under /sbin; /usr/sbin on merged-/usr hosts is the same file). */
export const NFS_MOUNT_HELPERS = ["/sbin/mount.nfs", "/usr/sbin/mount.nfs"] as const;

const osSchema = z.object({
  /** `ID` from /etc/os-release, e.g. "debian", "ubuntu". */
  id: z.string(),
  /** `VERSION_ID`, e.g. "12", "22.04"; empty when the file has none (testing/unstable). */
  versionId: z.string(),
  codename: z.string(),
  prettyName: z.string(),
});

const kernelSchema = z.object({
  release: z.string(),
  version: z.string(),
});

const cpuSchema = z.object({
  count: z.number().int().positive(),
  model: z.string(),
});

const memorySchema = z.object({
  totalBytes: z.number().int().nonnegative(),
  availableBytes: z.number().int().nonnegative(),
});

const diskSchema = z.object({
  /** Kernel name under /sys/block, e.g. "sda", "nvme0n1". */
  name: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  rotational: z.boolean(),
  removable: z.boolean(),
  model: z.string(),
});

const spaceSchema = z.object({
  path: z.string(),
  totalBytes: z.number().int().nonnegative(),
  availableBytes: z.number().int().nonnegative(),
});

const addressSchema = z.object({
  family: z.enum(["inet", "inet6"]),
  address: z.string(),
  prefixLength: z.number().int().min(0).max(128),
});

const interfaceSchema = z.object({
  name: z.string(),
  mac: z.string(),
  up: z.boolean(),
  mtu: z.number().int().nonnegative(),
  addresses: z.array(addressSchema),
});

const gpuSchema = z.object({
  /** PCI address, e.g. "0000:3b:00.0". */
  pciAddress: z.string(),
  vendorId: z.string(),
  deviceId: z.string(),
  /** Full PCI class code, e.g. "0x030200" (3D controller). */
  classCode: z.string(),
  /** Kernel driver bound to the function ("nvidia", "nouveau"), or null when none is bound. */
  driver: z.string().nullable(),
});

const systemdSchema = z.object({
  /** PID 1 is systemd (from /proc/1/comm). */
  pid1: z.boolean(),
  /** systemd's own "booted" test: /run/systemd/system exists. */
  booted: z.boolean(),
});

export const hostFactsSchema = z
  .object({
    schema: z.literal(FACTS_SCHEMA_VERSION),
    agentVersion: z.string(),
    collectedAt: z.string().datetime(),
    hostname: z.string(),
    /** Contents of /etc/machine-id; empty when the host has none. */
    machineId: z.string(),
    os: osSchema,
    kernel: kernelSchema,
    /** `uname -m`, e.g. "x86_64". */
    machine: z.string(),
    /** Artifact architecture: "amd64", "arm64", or the raw machine name when unknown. */
    arch: z.string(),
    cpu: cpuSchema,
    memory: memorySchema,
    disks: z.array(diskSchema),
    /** Free space where groundcrew and k3s keep their data. */
    space: z.array(spaceSchema),
    network: z.array(interfaceSchema),
    /** NVIDIA display-class PCI functions (vendor 0x10de, class 0x03xxxx) only. */
    gpus: z.array(gpuSchema),
    systemd: systemdSchema,
    /** Ports something already listens on (TCP LISTEN, bound UDP), for the "ports free" preflight. */
    listening: z.object({
      tcp: z.array(z.number().int().min(1).max(65535)),
      udp: z.array(z.number().int().min(1).max(65535)),
    }),
    /**
     * The NFS mount helper (nfs-common's mount.nfs) kubelet's NFS volumes
     * need: the first of NFS_MOUNT_HELPERS present, or null when neither is.
     * An agent built before this fact reports nothing, read as null: the NFS
     * preflight then asks for the helper rather than assuming it.
     */
    nfsMountHelper: z.enum(NFS_MOUNT_HELPERS).nullable().default(null),
    /** Steps groundcrew installed on this host before (their ledger records): their services' ports are ours. */
    installedSteps: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9.-]{0,63}$/))
      .max(200)
      .default([]),
  })
  .strict();

export type HostFacts = z.infer<typeof hostFactsSchema>;
export type NetworkInterfaceFacts = z.infer<typeof interfaceSchema>;
export type GpuFacts = z.infer<typeof gpuSchema>;
export type DiskFacts = z.infer<typeof diskSchema>;
