import { spawn } from "node:child_process";
import { once } from "node:events";
import { access } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { localFs } from "../../agent/host/local-fs.js";
import { dockerClient } from "../../server/lab/docker.js";
import { destroyLab, listLabs, reapStaleLabs, startLab } from "../../server/lab/lab.js";
import { DETACHED_OWNER, LAB_LABEL, LAB_OWNER_LABEL } from "../../server/lab/labels.js";
import { ownerToken } from "../../server/lab/owner.js";

async function labObjects(id: string): Promise<{ containers: number; networks: number }> {
  const docker = (await dockerClient()).container.dockerode;
  const filters = { label: [`${LAB_LABEL}=${id}`] };
  const [containers, networks] = await Promise.all([
    docker.listContainers({ all: true, filters }),
    docker.listNetworks({ filters }),
  ]);
  return { containers: containers.length, networks: networks.length };
}

/** The owner token of a process that has exited: what a killed run leaves on its objects. */
async function deadOwnerToken(): Promise<string> {
  const child = spawn("sleep", ["60"]);
  await once(child, "spawn");
  const token = await ownerToken(localFs, child.pid);
  child.kill("SIGKILL");
  await once(child, "exit");
  if (token === undefined) throw new Error("no owner token for the child");
  return token;
}

describe("lab lifecycle", () => {
  it("labels everything it starts and removes all of it on stop", async () => {
    const lab = await startLab({ machines: 1 });
    expect(await labObjects(lab.id)).toEqual({ containers: 1, networks: 1 });
    await access(lab.privateKeyPath);
    await lab.stop();
    expect(await labObjects(lab.id)).toEqual({ containers: 0, networks: 0 });
    await expect(access(lab.privateKeyPath)).rejects.toThrow();
    await lab.stop();
  });

  it("reaps what a killed run left behind, and leaves detached labs and live owners alone", async () => {
    const client = await dockerClient();
    const docker = client.container.dockerode;
    const make = (id: string, owner: string) =>
      docker.createNetwork({
        Name: `groundcrew-lab-${id}`,
        Internal: true,
        Labels: { [LAB_LABEL]: id, [LAB_OWNER_LABEL]: owner },
      });
    const suffix = String(process.pid);
    await make(`dead${suffix}`, await deadOwnerToken());
    await make(`kept${suffix}`, DETACHED_OWNER);
    await make(`live${suffix}`, (await ownerToken(localFs))!);
    try {
      const reaped = await reapStaleLabs(client);
      expect(reaped).toContain(`dead${suffix}`);
      expect(reaped).not.toContain(`kept${suffix}`);
      expect(reaped).not.toContain(`live${suffix}`);
      const remaining = (await listLabs(client)).map((lab) => lab.id);
      expect(remaining).not.toContain(`dead${suffix}`);
      expect(remaining).toEqual(expect.arrayContaining([`kept${suffix}`, `live${suffix}`]));
    } finally {
      await destroyLab(client, `kept${suffix}`);
      await destroyLab(client, `live${suffix}`);
      await destroyLab(client, `dead${suffix}`);
    }
  });
});
