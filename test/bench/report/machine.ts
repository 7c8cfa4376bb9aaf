import os from "node:os";
import { z } from "zod";
import { formatBytes } from "../../../shared/format-bytes.js";

/** The machine a benchmark ran on, as docs/benchmarks.md describes it. */
export const machineSchema = z
  .object({
    cpu: z.string().max(200),
    cores: z.number().int().min(1),
    memoryBytes: z.number().int().min(0),
    kernel: z.string().max(200),
    node: z.string().max(40),
    /** 1-minute load average when the benchmark started: a busy machine shows here. */
    loadAverage: z.number().min(0),
  })
  .strict();

export type Machine = z.infer<typeof machineSchema>;

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg()[0] ?? 0,
  };
}

/** "AMD EPYC, 2 cores, 23.5 GiB RAM, Linux 6.1.0 x64, Node v20.20.2" (load average apart). */
export function machineLine(machine: Machine): string {
  return `${machine.cpu}, ${machine.cores} cores, ${formatBytes(machine.memoryBytes)} RAM, ${machine.kernel}, Node ${machine.node}`;
}
