import { readdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { debFileName } from "../../server/cli/commands/bundle.js";
import { RESET_ALLOWED, snapshotDiff, snapshotHost } from "../support/host-snapshot.js";
import { FIXTURE_DEBS, startLabFleet, writeDebsLock, type LabFleet } from "../support/lab-fleet.js";

/** Distinct from the other lab tests' ports and the demo's 7443. */
const PORT = "17447";
const DOCKER_DEBS = ["docker.io", "containerd", "runc", "tini"];

describe("Docker from the bundle's .debs (a host without Docker, a host with its own)", () => {
  let fleet: LabFleet;
  let inventory: string;
  let bundle: string;
  let before: string[];

  const dockerVersion = async (machine: string): Promise<string> =>
    (await fleet.asRoot(machine, ["docker", "version", "--format", "{{.Server.Version}}"])).trim();

  beforeAll(async () => {
    fleet = await startLabFleet(2);
    const lock = await writeDebsLock(path.join(fleet.work, "docker.lock.yaml"), {
      packages: DOCKER_DEBS,
      component: "docker",
    });
    bundle = path.join(fleet.work, "docker.tar");
    const built = await fleet.groundcrew("bundle", "build", "--lock", lock.file, "--out", bundle);
    expect(built.code, built.stderr).toBe(0);
    // node2 already runs a Docker of its own, installed by hand.
    const files = (await readdir(FIXTURE_DEBS)).filter((file) =>
      DOCKER_DEBS.includes(debFileName(file)?.name ?? ""),
    );
    for (const file of files)
      await fleet.uploadAsRoot("node2", path.join(FIXTURE_DEBS, file), `/root/${file}`);
    await fleet.asRoot("node2", [
      "sh",
      "-c",
      "DEBIAN_FRONTEND=noninteractive dpkg -i /root/*.deb && rm /root/*.deb",
    ]);
    expect(await dockerVersion("node2")).toMatch(/^20\./);
    before = await snapshotHost(fleet, "node1", RESET_ALLOWED);
    inventory = await fleet.writeInventory("fleet.yaml", { depot: true, installDocker: true });
  });

  afterAll(async () => {
    await fleet.stop();
  });

  it("up installs Docker where there was none and adopts the one that was there", async () => {
    const up = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/node1 +#\d+ docker\.install succeeded .*installed containerd .*docker\.io/);
    expect(up.stdout).toMatch(
      /node2 +#\d+ docker\.install skipped: Docker was already installed .*not by groundcrew/,
    );
    expect(await dockerVersion("node1")).toMatch(/^20\./);
    const again = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/node1 +#\d+ docker\.install skipped: every Docker package is installed/);
  });

  it("reset removes the Docker groundcrew installed, without a trace, and leaves the other one running", async () => {
    const reset = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    const { added, removed } = snapshotDiff(before, await snapshotHost(fleet, "node1", RESET_ALLOWED));
    expect(added, "node1: left behind").toEqual([]);
    expect(removed, "node1: removed").toEqual([]);
    expect(await dockerVersion("node2")).toMatch(/^20\./);
  });
});
