import { FACTS_SCHEMA_VERSION, hostFactsSchema, type HostFacts } from "../../shared/facts.js";
import type { Exec, Fs } from "../../shared/host-io.js";
import { VERSION } from "../../shared/version.js";
import { readCpu } from "./cpu.js";
import { readDisks } from "./disks.js";
import { readGpus } from "./gpus.js";
import { readIdentity } from "./identity.js";
import { artifactArch, readKernel, readMachine } from "./kernel.js";
import { readMemory } from "./memory.js";
import { readNetwork } from "./network.js";
import { readOs } from "./os-release.js";
import { readSpace } from "./space.js";
import { readSystemd } from "./systemd.js";

export interface FactsDeps {
  readonly exec: Exec;
  readonly fs: Fs;
  readonly now?: () => Date;
}

/**
 * Reads every fact about the host. Reads only: never writes anything.
 * The result is checked against the schema the server validates with, so the
 * agent never emits a document the server would refuse.
 */
export async function collectFacts({ exec, fs, now = () => new Date() }: FactsDeps): Promise<HostFacts> {
  const [identity, os, kernel, machine, cpu, memory, disks, space, network, gpus, systemd] =
    await Promise.all([
      readIdentity(fs),
      readOs(fs),
      readKernel(fs),
      readMachine(exec),
      readCpu(fs),
      readMemory(fs),
      readDisks(fs),
      readSpace(fs),
      readNetwork(exec),
      readGpus(fs),
      readSystemd(fs),
    ]);
  return hostFactsSchema.parse({
    schema: FACTS_SCHEMA_VERSION,
    agentVersion: VERSION,
    collectedAt: now().toISOString(),
    ...identity,
    os,
    kernel,
    machine,
    arch: artifactArch(machine),
    cpu,
    memory,
    disks,
    space,
    network,
    gpus,
    systemd,
  });
}
