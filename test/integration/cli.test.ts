import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { VERSION } from "../../shared/version.js";

const run = promisify(execFile);
const cli = path.resolve("dist", "server", "cli", "main.js");

/** Runs the compiled CLI the way a user does: plain Node, its own ESM loader, no test transforms. */
function groundcrew(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cli, ...args], { maxBuffer: 1 << 22 });
}

const labDescription = z.object({
  id: z.string(),
  network: z.object({ name: z.string(), internal: z.literal(true) }),
  machines: z.array(z.object({ name: z.string(), address: z.string() })),
  privateKeyPath: z.string(),
});

describe("the compiled groundcrew CLI", () => {
  it("prints its version and help", async () => {
    expect((await groundcrew("--version")).stdout).toBe(`${VERSION}\n`);
    const help = (await groundcrew("--help")).stdout;
    expect(help).toContain("Usage: groundcrew");
    expect(help).toContain("demo");
  });

  it("runs the demo on a one-machine lab and cleans up", async () => {
    const { stdout, stderr } = await groundcrew("demo", "-n", "1");
    expect(stdout).toMatch(/^machine\s+address\s+os/m);
    expect(stdout).toMatch(/^node1\s+\S+\s+debian 12\s.*\s+pid 1\s+pushed$/m);
    const id = /starting lab ([0-9a-f]+)/.exec(stderr)?.[1];
    expect(id).toBeDefined();
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
