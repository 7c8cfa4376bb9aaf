import { statfs } from "node:fs/promises";
import { availableParallelism, totalmem } from "node:os";
import path from "node:path";
import { readOptional } from "./files.js";
import { probeGpuCount } from "./gpu-probe.js";
import type { NodeStatus } from "./protocol.js";

/** Header of a runtime section in the containerd config k3s generates: `...containerd.runtimes."nvidia"]`. */
const RUNTIME_SECTION =
  /^\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.("?)([^"\]]+)\1\]$/gm;

/**
 * The runtime handlers a containerd config offers: `runc` (containerd's
 * default, always there) and every `containerd.runtimes.<name>` section.
 */
export function configuredRuntimes(configToml: string): string[] {
  const names = new Set(["runc"]);
  for (const match of configToml.matchAll(RUNTIME_SECTION)) names.add(match[2] ?? "");
  names.delete("");
  return [...names].sort();
}

/**
 * What this node's kubelet reports about itself, read from its own host:
 * CPUs (as `nproc` counts them), memory, the size of the filesystem holding
 * the data dir, the GPUs `nvidia-smi -L` lists, and the runtimes of its
 * generated containerd config. Taken at start and with every heartbeat.
 */
export async function probeNodeStatus(dataDir: string): Promise<NodeStatus> {
  const config = path.join(dataDir, "agent", "etc", "containerd", "config.toml");
  const [gpus, configText, ephemeralStorageBytes] = await Promise.all([
    probeGpuCount(),
    readOptional(config).catch(() => undefined),
    filesystemBytes(dataDir),
  ]);
  return {
    cpu: availableParallelism(),
    memoryBytes: totalmem(),
    ephemeralStorageBytes,
    gpus,
    runtimes: configuredRuntimes(configText ?? ""),
  };
}

/** The size of the filesystem holding `dir` (or its nearest existing parent); 0 when unknown. */
async function filesystemBytes(dir: string): Promise<number> {
  for (let at = dir; ; at = path.dirname(at)) {
    try {
      const stats = await statfs(at);
      return stats.blocks * stats.bsize;
    } catch {
      if (at === path.dirname(at)) return 0;
    }
  }
}
