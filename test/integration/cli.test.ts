import { execFile } from "node:child_process";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { VERSION } from "../../shared/version.js";
import { FIXTURE_DEBS } from "../support/lab-fleet.js";

const run = promisify(execFile);
const cli = path.resolve("dist", "server", "cli", "main.js");
let stateDir = "";

/** Runs the compiled CLI the way a user does: plain Node, its own ESM loader, no test transforms. */
function groundcrew(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cli, ...args], {
    maxBuffer: 1 << 22,
    env: { ...process.env, GROUNDCREW_STATE_DIR: stateDir },
  });
}

const labDescription = z.object({
  id: z.string(),
  network: z.object({ name: z.string(), internal: z.literal(true) }),
  machines: z.array(z.object({ name: z.string(), address: z.string() })),
  privateKeyPath: z.string(),
});

describe("the compiled groundcrew CLI", () => {
  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), "groundcrew-cli-"));
    // The demo downloads only the packages its folder lacks: give it setup's copies, so the test stays offline.
    await cp(FIXTURE_DEBS, path.join(stateDir, "demo", "debs"), { recursive: true });
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it("prints its version and help", async () => {
    expect((await groundcrew("--version")).stdout).toBe(`${VERSION}\n`);
    const help = (await groundcrew("--help")).stdout;
    expect(help).toContain("Usage: groundcrew");
    expect(help).toContain("demo");
  });

  it("demo: a lab, its inventory, check and up; again: all skipped; --down removes it", async () => {
    const first = await groundcrew("demo", "-n", "2");
    expect(first.stdout).toMatch(/^\$ groundcrew check -i \S+inventory\.ini$/m);
    expect(first.stdout).toContain("all 2 host(s) ready");
    expect(first.stdout).toMatch(/run r[0-9a-f-]+: all 2 host\(s\) succeeded/);
    // The demo's own bundle: Debian's Docker and registry, images made here; no k3s, and it says so.
    expect(first.stderr).not.toContain("downloading");
    expect(first.stderr).toContain(
      "demo bundle: left out k3s (no k3s binary here: pass a bundle that has one)",
    );
    expect(first.stdout).toMatch(/node1 +#\d+ registry\.seed succeeded/);
    expect(first.stdout).toMatch(/node2 +#\d+ docker\.install succeeded/);
    const id = /starting lab ([0-9a-f]+)/.exec(first.stderr)?.[1];
    expect(id).toBeDefined();

    const again = await groundcrew("demo");
    expect(again.stderr).toContain(`reusing demo lab ${id ?? ""}`);
    // node1 (depot): host preparation, artifacts, registry, seeding, Docker; node2: the same without the registry.
    expect(again.stdout).toMatch(/node1 +#\d+ run succeeded: 0 succeeded, 9 skipped, 0 failed/);
    expect(again.stdout).toMatch(/node2 +#\d+ run succeeded: 0 succeeded, 7 skipped, 0 failed/);

    expect((await groundcrew("demo", "--down")).stdout).toBe("demo lab removed\n");
    expect((await groundcrew("lab", "list")).stdout).not.toContain(id);
  });

  it("keeps a detached lab up until `lab down`", async () => {
    const description = labDescription.parse(
      JSON.parse((await groundcrew("lab", "up", "-n", "1", "--json")).stdout),
    );
    try {
      expect(description.machines.map((machine) => machine.name)).toEqual(["node1"]);
      expect((await groundcrew("lab", "list")).stdout).toMatch(
        new RegExp(`^${description.id}\\s+detached\\s+alive`, "m"),
      );
    } finally {
      expect((await groundcrew("lab", "down", description.id)).stdout).toBe(`removed ${description.id}\n`);
    }
    expect((await groundcrew("lab", "list")).stdout).not.toContain(description.id);
  });

  it("rejects a bad flag with a clear message and changes nothing", async () => {
    const failure = await groundcrew("lab", "up", "-n", "0").then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toMatch(
      /expected a whole number of machines from 1 to 32, got "0"/,
    );
  });
});
