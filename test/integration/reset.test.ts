import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshotDiff, snapshotHost, type Allowed } from "../support/host-snapshot.js";
import { startLabFleet, writeDebsLock, type LabFleet } from "../support/lab-fleet.js";

/** Distinct from the other lab tests' ports and the demo's 7443. */
const PORT = "17446";

/**
 * What may differ on a host after `up` + `reset`, each with its reason. Every
 * other path, mode, size, /etc content hash, unit file and kernel parameter
 * must be as it was before `up`.
 */
const ALLOWED: readonly Allowed[] = [
  {
    pattern: /^\/home\/ops\/\.cache /,
    reason:
      "the login user's cache folder: the agent is pushed below it; it may have existed before, so it stays",
  },
];

describe("reset leaves no trace (1 server + depot, 1 worker)", () => {
  let fleet: LabFleet;
  let inventory: string;
  let bundle: string;
  let before: Map<string, string[]>;

  const snapshot = async (): Promise<Map<string, string[]>> => {
    const result = new Map<string, string[]>();
    for (const machine of fleet.lab.machines)
      result.set(machine.name, await snapshotHost(fleet, machine.name, ALLOWED));
    return result;
  };

  const expectAsBefore = async (): Promise<void> => {
    const now = await snapshot();
    for (const machine of fleet.lab.machines) {
      const { added, removed } = snapshotDiff(before.get(machine.name) ?? [], now.get(machine.name) ?? []);
      expect(added, `${machine.name}: left behind`).toEqual([]);
      expect(removed, `${machine.name}: removed`).toEqual([]);
    }
  };

  beforeAll(async () => {
    fleet = await startLabFleet(2);
    const lock = await writeDebsLock(path.join(fleet.work, "lab.lock.yaml"));
    bundle = path.join(fleet.work, "lab.tar");
    const built = await fleet.groundcrew("bundle", "build", "--lock", lock.file, "--out", bundle);
    expect(built.code, built.stderr).toBe(0);
    inventory = await fleet.writeInventory("fleet.yaml", { depot: true, installDocker: false });
    before = await snapshot();
  });

  afterAll(async () => {
    await fleet.stop();
  });

  it("up, then reset: every host is as it was", async () => {
    const up = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const reset = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    expect(reset.stdout).toContain("all 2 host(s) reset");
    // Workers before servers: node2 is done before node1 starts.
    expect(reset.stdout.indexOf("node2  reset:")).toBeLessThan(reset.stdout.indexOf("node1  reset:"));
    await expectAsBefore();
  });

  it("a second reset changes nothing", async () => {
    const again = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/node1 +reset: nothing of groundcrew was left/);
    await expectAsBefore();
  });

  it("a reset cut short and run again reaches the same clean state", async () => {
    const up = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const env = { ...process.env, GROUNDCREW_STATE_DIR: path.join(fleet.work, "state") };
    const cli = path.resolve("dist", "server", "cli", "main.js");
    const first = spawn(process.execPath, [cli, "reset", "-i", inventory, "--yes"], { env });
    let output = "";
    await new Promise<void>((resolve) => {
      first.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        // The worker is done; the server is not yet.
        if (/node2 +reset:/.test(output)) first.kill("SIGKILL");
      });
      first.once("exit", () => {
        resolve();
      });
    });
    expect(output).not.toMatch(/node1 +reset:/);
    const again = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    await expectAsBefore();
  });

  it("refuses to run without --yes when there is no terminal to ask on, changing nothing", async () => {
    const refused = await fleet.groundcrew("reset", "-i", inventory);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("pass --yes");
  });
});
