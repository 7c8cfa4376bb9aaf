import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { StartedNetwork } from "testcontainers";
import { localFs } from "../../agent/host/local-fs.js";
import { ensurePrivateDir, stateDirPath } from "../state-dir.js";
import { dockerClient, type DockerClient } from "./docker.js";
import { ensureMachineImage } from "./image-build.js";
import { LAB_USER } from "./image-recipe.js";
import { DETACHED_OWNER, LAB_LABEL, LAB_OWNER_LABEL } from "./labels.js";
import { startMachine } from "./machine.js";
import { isOwnerAlive, ownerToken } from "./owner.js";
import { generateLabKey } from "./ssh-key.js";

export interface LabMachine {
  /** Name inside the lab, also the machine's hostname: "node1", "node2", ... */
  readonly name: string;
  readonly containerName: string;
  /** The machine's address on the lab network; reachable from this host, not from outside. */
  readonly address: string;
  /** SSH host public keys ("type base64"), to pin instead of trusting on first use. */
  readonly hostKeys: readonly string[];
}

export interface LabNetwork {
  readonly name: string;
  readonly internal: boolean;
  readonly subnet: string;
  /** The lab's way to reach this host (the provisioner) from inside. */
  readonly gateway: string;
}

export interface Lab {
  readonly id: string;
  readonly network: LabNetwork;
  readonly machines: readonly LabMachine[];
  /** Non-root account with passwordless sudo on every machine; root accepts the same key. */
  readonly user: string;
  /** Secret: never log it. */
  readonly privateKey: string;
  readonly privateKeyPath: string;
  /** Removes the machines, the network and the key. Safe to call twice. */
  stop(): Promise<void>;
}

export interface LabOptions {
  readonly machines?: number;
  /** Outlive this process (until `groundcrew lab down`); otherwise a later run reaps it once we are gone. */
  readonly detached?: boolean;
  readonly stateDir?: string;
  readonly onProgress?: (message: string) => void;
}

/**
 * Starts N fleet machines (systemd + sshd containers) on a new internal
 * Docker network: a real air gap that the provisioner still reaches by
 * address. Leftovers of earlier runs whose owner died are removed first.
 * On any failure, whatever was started is removed again before rethrowing.
 */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const count = options.machines ?? 2;
  if (!Number.isInteger(count) || count < 1 || count > 32) {
    throw new RangeError(`a lab has 1 to 32 machines, not ${count}`);
  }
  const client = await dockerClient();
  const stateDir = options.stateDir ?? stateDirPath();
  await reapStaleLabs(client, stateDir);
  const image = await ensureMachineImage(
    client,
    options.onProgress ? { onProgress: options.onProgress } : {},
  );

  const id = randomBytes(4).toString("hex");
  const owner = options.detached === true ? DETACHED_OWNER : ((await ownerToken(localFs)) ?? DETACHED_OWNER);
  const labels = { [LAB_LABEL]: id, [LAB_OWNER_LABEL]: owner };
  const labDir = await ensurePrivateDir(path.join(stateDir, "lab", id));
  const key = generateLabKey(`groundcrew-lab-${id}`);
  const privateKeyPath = path.join(labDir, "id_ed25519");
  await writeFile(privateKeyPath, key.privateKey, { mode: 0o600 });
  const stop = (): Promise<void> => destroyLab(client, id, stateDir);

  try {
    options.onProgress?.(`starting lab ${id} with ${count} machine(s)`);
    const network = await createInternalNetwork(client, `groundcrew-lab-${id}`, labels);
    const started = await Promise.all(
      Array.from({ length: count }, (_, index) => {
        const name = `node${index + 1}`;
        return startMachine({
          image,
          network: network.started,
          containerName: `groundcrew-lab-${id}-${name}`,
          hostname: name,
          labels,
          authorizedKeys: key.publicKey,
        }).then((machine) => ({ name, machine }));
      }),
    );
    const machines = started.map(({ name, machine }) => ({
      name,
      containerName: `groundcrew-lab-${id}-${name}`,
      address: machine.address,
      hostKeys: machine.hostKeys,
    }));
    const lab: Lab = {
      id,
      network: network.info,
      machines,
      user: LAB_USER,
      privateKey: key.privateKey,
      privateKeyPath,
      stop,
    };
    await writeFile(path.join(labDir, "lab.json"), `${JSON.stringify(describeLab(lab), null, 2)}\n`, {
      mode: 0o600,
    });
    return lab;
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** What a lab looks like to a user: no secrets, only the key's path. */
export function describeLab(lab: Lab): Omit<Lab, "privateKey" | "stop"> {
  return {
    id: lab.id,
    network: lab.network,
    machines: lab.machines,
    user: lab.user,
    privateKeyPath: lab.privateKeyPath,
  };
}

async function createInternalNetwork(
  client: DockerClient,
  name: string,
  labels: Record<string, string>,
): Promise<{ started: StartedNetwork; info: LabNetwork }> {
  const network = await client.network.create({
    Name: name,
    CheckDuplicate: true,
    Driver: "bridge",
    Internal: true,
    Labels: labels,
  });
  const inspected = await network.inspect();
  const ipam = inspected.IPAM?.Config?.[0];
  return {
    started: new StartedNetwork(client, name, network),
    info: {
      name,
      internal: inspected.Internal,
      subnet: ipam?.Subnet ?? "",
      gateway: ipam?.Gateway ?? "",
    },
  };
}

/** Removes every container and network of one lab, and its key directory. */
export async function destroyLab(
  client: DockerClient,
  id: string,
  stateDir: string = stateDirPath(),
): Promise<void> {
  const docker = client.container.dockerode;
  const filters = { label: [`${LAB_LABEL}=${id}`] };
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(
    containers.map((info) =>
      docker.getContainer(info.Id).remove({ force: true, v: true }).catch(ignoreNotFound),
    ),
  );
  const networks = await docker.listNetworks({ filters });
  for (const info of networks) {
    await docker.getNetwork(info.Id).remove().catch(ignoreNotFound);
  }
  await rm(path.join(stateDir, "lab", id), { recursive: true, force: true });
}

export interface LabSummary {
  readonly id: string;
  readonly detached: boolean;
  readonly ownerAlive: boolean;
}

/** Every lab Docker knows about, from the labels on its containers and networks. */
export async function listLabs(client: DockerClient): Promise<LabSummary[]> {
  const docker = client.container.dockerode;
  const filters = { label: [LAB_LABEL] };
  const [containers, networks] = await Promise.all([
    docker.listContainers({ all: true, filters }),
    docker.listNetworks({ filters }),
  ]);
  const owners = new Map<string, string>();
  for (const labels of [...containers.map((c) => c.Labels), ...networks.map((n) => n.Labels ?? {})]) {
    const id = labels[LAB_LABEL];
    if (id !== undefined) owners.set(id, labels[LAB_OWNER_LABEL] ?? "");
  }
  return Promise.all(
    [...owners].map(async ([id, owner]) => ({
      id,
      detached: owner === DETACHED_OWNER,
      ownerAlive: owner === DETACHED_OWNER || (await isOwnerAlive(localFs, owner)),
    })),
  );
}

/** Removes labs whose owning process is gone (a killed test or demo run). Detached labs stay. */
export async function reapStaleLabs(
  client: DockerClient,
  stateDir: string = stateDirPath(),
): Promise<string[]> {
  const stale = (await listLabs(client)).filter((lab) => !lab.ownerAlive).map((lab) => lab.id);
  for (const id of stale) await destroyLab(client, id, stateDir);
  return stale;
}

/** Someone else removed it first: that is the outcome we wanted. Any other error propagates. */
function ignoreNotFound(error: unknown): undefined {
  if (typeof error === "object" && error !== null && "statusCode" in error && error.statusCode === 404) {
    return undefined;
  }
  throw error;
}
