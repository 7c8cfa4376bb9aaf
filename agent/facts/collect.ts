import { FACTS_SCHEMA_VERSION, hostFactsSchema, type HostFacts } from "../../shared/facts.js";
import type { Exec, Fs } from "../../shared/host-io.js";
import { VERSION } from "../../shared/version.js";
import { readCpu } from "./cpu.js";
import { readDisks } from "./disks.js";
import { readGpus } from "./gpus.js";
import { readIdentity } from "./identity.js";
import { readInstalledSteps, readListening } from "./listening.js";
import { artifactArch, readKernel, readMachine } from "./kernel.js";
import { readMemory } from "./memory.js";
import { readNetwork } from "./network.js";
import { readNfsMountHelper } from "./nfs-client.js";
import { readOs } from "./os-release.js";
import { readSpace } from "./space.js";
import { readSystemd } from "./systemd.js";

export interface FactsDeps {
  readonly exec: Exec;
  readonly fs: Fs;
  /** Clock for `collectedAt`; defaults to the system clock. */
  readonly now?: () => Date;
}

/**
 * Reads every fact about the host, the independent reads concurrently. Reads
 * only: never writes anything. The document is parsed with the schema the
 * server validates with before it is returned, so the agent never emits one
 * the server would refuse (a ZodError instead). Collector failures propagate
 * (GroundcrewError FACTS_UNREADABLE for facts that cannot be read).
 */
export async function collectFacts({ exec, fs, now = () => new Date() }: FactsDeps): Promise<HostFacts> {
  const [
    identity,
    os,
    kernel,
    machine,
    cpu,
    memory,
    disks,
    space,
    network,
    gpus,
    systemd,
    listening,
    installedSteps,
    nfsMountHelper,
  ] = await Promise.all([
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
    readListening(fs),
    readInstalledSteps(fs),
    readNfsMountHelper(fs),
  ]);
  return hostFactsSchema.parse({
    schema: FACTS_SCHEMA_VERSION,
    agentVersion: VERSION,
    collectedAt: now().toISOString(),
    hostname: identity.hostname,
    machineId: identity.machineId,
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
    listening,
    nfsMountHelper,
    installedSteps,
  } satisfies HostFacts);
}
