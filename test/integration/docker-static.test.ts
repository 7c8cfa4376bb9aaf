import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerStaticLock } from "../support/docker-static-tarball.js";
import { RESET_ALLOWED, snapshotDiff, snapshotHost } from "../support/host-snapshot.js";
import { startLabFleet, type LabFleet } from "../support/lab-fleet.js";

/** Distinct from the other lab tests' ports and the demo's 7443. */
const PORT = "17451";

describe("Docker from the bundle's static tarball (no Docker .debs in the bundle)", () => {
  let fleet: LabFleet;
  let inventory: string;
  let bundle: string;
  let before: string[];

  beforeAll(async () => {
    fleet = await startLabFleet(1);
    const lock = await dockerStaticLock(path.join(fleet.work, "bundle"));
    bundle = path.join(fleet.work, "docker-static.tar");
    const built = await fleet.groundcrew("bundle", "build", "--lock", lock, "--out", bundle);
    expect(built.code, built.stdout + built.stderr).toBe(0);
    inventory = await fleet.writeInventory("fleet.yaml", { depot: true, installDocker: true });
    before = await snapshotHost(fleet, "node1", RESET_ALLOWED);
  });

  afterAll(async () => {
    await fleet.stop();
  });

  it("up installs the static binaries with groundcrew's units; Docker pulls through the depot and runs a container", async () => {
    const up = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/node1 +#\d+ docker\.static succeeded/);
    expect(up.stdout).not.toMatch(/bundle has no Docker/);
    const dockerd = await fleet.asRoot("node1", [
      "systemctl",
      "show",
      "--property",
      "ExecStart",
      "docker.service",
    ]);
    expect(dockerd).toContain("/usr/local/bin/dockerd");
    const depot = `${fleet.lab.machines[0]?.address ?? ""}:5000`;
    const image = `${depot}/library/busybox:stable`;
    // The step's verify pulled the bundle's image through the depot (TLS, groundcrew's CA in certs.d).
    await fleet.asRoot("node1", ["docker", "image", "inspect", image]);
    await fleet.asRoot("node1", ["test", "-f", `/etc/docker/certs.d/${depot}/ca.crt`]);
    expect(await fleet.asRoot("node1", ["cat", "/etc/docker/daemon.json"])).toContain(`https://${depot}`);
    await fleet.asRoot("node1", ["docker", "run", "--rm", "--network", "none", image, "true"]);
  });

  it("up again changes nothing: every step is skipped", async () => {
    const again = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/#\d+ (?!run )\S+ succeeded/);
    expect(again.stdout).toMatch(
      /node1 +#\d+ docker\.static skipped: Docker's static binaries are installed/,
    );
  });

  it("reset leaves node1 as it was", async () => {
    const reset = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    const { added, removed } = snapshotDiff(before, await snapshotHost(fleet, "node1", RESET_ALLOWED));
    expect(added, "node1: left behind").toEqual([]);
    expect(removed, "node1: removed").toEqual([]);
  });
});
