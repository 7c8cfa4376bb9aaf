import { execFile } from "node:child_process";

/** How many GPUs an `nvidia-smi -L` listing names: its lines that start with `GPU ` (MIG lines are indented). */
export function countGpus(listing: string): number {
  return listing.split("\n").filter((line) => line.startsWith("GPU ")).length;
}

/**
 * The GPUs this node's NVIDIA driver reports: `nvidia-smi -L` run from this
 * process's PATH (the unit's environment), as NVIDIA's device plugin would
 * find them. A missing, failing or hanging nvidia-smi means 0. Never rejects.
 */
export function probeGpuCount(): Promise<number> {
  return new Promise((resolve) => {
    execFile("nvidia-smi", ["-L"], { timeout: 10_000, maxBuffer: 1 << 20 }, (error, stdout) => {
      resolve(error === null ? countGpus(stdout) : 0);
    });
  });
}
