import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { eventEnvelopeSchema, type EventEnvelope } from "../../shared/protocol.js";
import { demoInventory } from "../../server/demo/demo-lab.js";
import { startLab, type Lab } from "../../server/lab/lab.js";
import { keyBlobFromLine, pinnedKeys } from "../../server/ssh/host-key.js";
import { KnownHosts } from "../../server/ssh/known-hosts.js";
import { SshSession } from "../../server/ssh/session.js";

const run = promisify(execFile);
const cli = path.resolve("dist", "server", "cli", "main.js");
/** Fixed, so agents find a restarted provisioner; distinct from other test files and the demo's 7443. */
const PORT = "17443";

describe("check and up on a 3-machine lab (Ansible INI inventory, non-root sudo user)", () => {
  let lab: Lab;
  let stateDir: string;
  let inventory: string;

  const groundcrew = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const env = { ...process.env, GROUNDCREW_STATE_DIR: stateDir };
    return run(process.execPath, [cli, ...args], { env, maxBuffer: 1 << 24 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
  };

  const journalOf = async (runId: string): Promise<EventEnvelope[]> => {
    const { stdout } = await groundcrew("journal", "export", "--run", runId);
    return stdout
      .trim()
      .split("\n")
      .map((line) => eventEnvelopeSchema.parse(JSON.parse(line)));
  };

  /** Every host's events are seq 1..n, each exactly once, ending in run.finished. */
  const expectComplete = (events: readonly EventEnvelope[]): void => {
    for (const machine of lab.machines) {
      const seqs = events.filter((event) => event.host === machine.name).map((event) => event.seq);
      expect(seqs.length, machine.name).toBeGreaterThan(0);
      expect(seqs, machine.name).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
      const last = events.filter((event) => event.host === machine.name).at(-1);
      expect(last?.event.kind, machine.name).toBe("run.finished");
    }
  };

  const runIdOf = (stdout: string): string => {
    const id = /run (r[0-9-a-f]+):/.exec(stdout)?.[1];
    if (id === undefined) throw new Error(`no run id in:\n${stdout}`);
    return id;
  };

  /** A listing of what matters on a machine (paths, sizes, modes, mtimes), read as root. */
  const listing = async (): Promise<string[]> =>
    Promise.all(
      lab.machines.map(async (machine) => {
        const session = await SshSession.connect({
          name: machine.name,
          host: machine.address,
          username: "root",
          privateKey: lab.privateKey,
          hostKeys: pinnedKeys(machine.hostKeys.map(keyBlobFromLine)),
        });
        try {
          const result = await session.run([
            "find",
            "/etc",
            "/var/lib",
            "/usr/local",
            "/root",
            "-xdev",
            "-printf",
            "%p %s %m %T@\\n",
          ]);
          return result.stdout.split("\n").sort().join("\n");
        } finally {
          session.close();
        }
      }),
    );

  beforeAll(async () => {
    lab = await startLab({ machines: 3 });
    stateDir = await mkdtemp(path.join(tmpdir(), "groundcrew-e2e-"));
    inventory = path.join(stateDir, "lab.ini");
    await writeFile(inventory, demoInventory(lab));
    const knownHosts = await KnownHosts.open(stateDir);
    for (const machine of lab.machines) {
      await knownHosts.pin(machine.address, 22, machine.hostKeys.map(keyBlobFromLine));
    }
  });

  afterAll(async () => {
    await lab.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it("check prints a passing table for every host", async () => {
    const { code, stdout } = await groundcrew("check", "-i", inventory);
    expect(code).toBe(0);
    const rows = stdout.split("\n").filter((line) => /^node\d /.test(line));
    expect(rows).toHaveLength(3);
    for (const row of rows)
      expect(
        row
          .split(/\s+/)
          .slice(1)
          .every((cell) => cell === "ok"),
        row,
      ).toBe(true);
    expect(stdout).toContain("all 3 host(s) ready");
  });

  it("check fails a host that the inventory says has a GPU, naming host and reason", async () => {
    const gpuInventory = path.join(stateDir, "gpu.ini");
    await writeFile(gpuInventory, demoInventory(lab).replace(/^(node2 .*)$/m, "$1 has_gpu=true"));
    const { code, stdout } = await groundcrew("check", "-i", gpuInventory);
    expect(code).toBe(1);
    expect(stdout).toContain(
      "FAIL node2 gpu: the inventory says gpu: true but no NVIDIA display device is in sysfs",
    );
    expect(stdout).not.toMatch(/FAIL node[13]/);
  });

  it("up --dry-run says what would change and changes nothing on the hosts", async () => {
    const before = await listing();
    const { code, stdout } = await groundcrew("up", "-i", inventory, "--dry-run");
    expect(code).toBe(0);
    for (const machine of lab.machines) expect(stdout).toContain(`${machine.name}: 2 step(s) would change`);
    expect(stdout).toContain("would host.sysctl");
    expect(await listing()).toEqual(before);
  });

  it("up prepares all three hosts; the journal holds every event exactly once", async () => {
    const { code, stdout } = await groundcrew("up", "-i", inventory, "--port", PORT);
    expect(code, stdout).toBe(0);
    expect(stdout).toContain("all 3 host(s) succeeded");
    const events = await journalOf(runIdOf(stdout));
    expectComplete(events);
    for (const machine of lab.machines) {
      const outcome = (stepId: string): string | undefined =>
        events.find(
          (event) =>
            event.host === machine.name &&
            "stepId" in event.event &&
            event.event.stepId === stepId &&
            ["step.succeeded", "step.skipped", "step.failed"].includes(event.event.kind),
        )?.event.kind;
      expect(outcome("host.kernel-modules"), machine.name).toBe("step.succeeded");
      expect(outcome("host.sysctl"), machine.name).toBe("step.succeeded");
      // The lab machines have no swap: turning it off is already done.
      expect(outcome("host.swap-off"), machine.name).toBe("step.skipped");
      // No host firewall is active, and the lab network gives every machine a default route.
      expect(outcome("host.firewall"), machine.name).toBe("step.skipped");
      expect(outcome("host.default-route"), machine.name).toBe("step.skipped");
    }
    const status = z
      .object({ hosts: z.array(z.object({ host: z.string(), state: z.string(), stepsDone: z.number() })) })
      .parse(JSON.parse((await groundcrew("status", "--json")).stdout));
    expect(status.hosts.map((host) => [host.host, host.state, host.stepsDone])).toEqual([
      ["node1", "succeeded", 5],
      ["node2", "succeeded", 5],
      ["node3", "succeeded", 5],
    ]);
  });

  it("a second up skips every step", async () => {
    const { code, stdout } = await groundcrew("up", "-i", inventory, "--port", PORT);
    expect(code, stdout).toBe(0);
    const events = await journalOf(runIdOf(stdout));
    expectComplete(events);
    const outcomes = events.filter((event) =>
      ["step.succeeded", "step.skipped", "step.failed"].includes(event.event.kind),
    );
    expect(outcomes).toHaveLength(15);
    expect(outcomes.every((event) => event.event.kind === "step.skipped")).toBe(true);
  });

  it("resumes after the provisioner is killed mid-run: no duplicates, no gaps", async () => {
    const env = { ...process.env, GROUNDCREW_STATE_DIR: stateDir };
    const first = spawn(process.execPath, [cli, "up", "-i", inventory, "--port", PORT], { env });
    let output = "";
    await new Promise<void>((resolve, reject) => {
      first.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        // The first agent is running; the others are not yet started.
        if (/node1 +agent started/.test(output)) {
          first.kill("SIGKILL");
          resolve();
        }
      });
      first.once("exit", () => {
        reject(new Error(`up ended before it could be killed:\n${output}`));
      });
    });
    await new Promise((resolve) => first.once("exit", resolve));
    const interrupted = z
      .object({ run: z.object({ id: z.string(), outcome: z.null() }) })
      .parse(JSON.parse((await groundcrew("status", "--json")).stdout));

    const { code, stdout, stderr } = await groundcrew("up", "-i", inventory, "--port", PORT);
    expect(code, stdout + stderr).toBe(0);
    expect(stderr).toContain(`resuming run ${interrupted.run.id}`);
    expect(runIdOf(stdout)).toBe(interrupted.run.id);
    expectComplete(await journalOf(interrupted.run.id));
  });
});
