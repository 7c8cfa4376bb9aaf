import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { debFileName } from "../../server/cli/commands/bundle.js";
import { startLab, type Lab } from "../../server/lab/lab.js";
import { keyBlobFromLine, pinnedKeys } from "../../server/ssh/host-key.js";
import { KnownHosts } from "../../server/ssh/known-hosts.js";
import { SshSession } from "../../server/ssh/session.js";
import { eventEnvelopeSchema, type EventEnvelope } from "../../shared/protocol.js";

const run = promisify(execFile);
const cli = path.resolve("dist", "server", "cli", "main.js");
const DEBS = path.resolve("test", "fixtures", "debs");
/** Distinct from the other lab tests' ports and the demo's 7443. */
const PORT = "17445";

const uplinkSchema = z.object({
  uplink: z.object({ sshBytes: z.number(), artifactsOverSsh: z.number(), artifactsOverHttps: z.number() }),
});
type Uplink = z.infer<typeof uplinkSchema>["uplink"];

describe("bundle delivery: one upload to the depot, the fleet fetches from it (1 depot + 3 machines)", () => {
  let lab: Lab;
  let work: string;
  let inventory: string;
  let bundle: string;
  let bundleBytes: number;
  let expected: string[];

  const groundcrew = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const env = { ...process.env, GROUNDCREW_STATE_DIR: path.join(work, "state") };
    return run(process.execPath, [cli, ...args], { env, maxBuffer: 1 << 26, timeout: 150_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
  };

  const up = async (
    bundleFile: string,
  ): Promise<{ code: number; stdout: string; stderr: string; uplink?: Uplink }> => {
    const result = await groundcrew("up", "-i", inventory, "-b", bundleFile, "--port", PORT, "--json");
    const line = result.stdout.split("\n").find((text) => text.startsWith('{"uplink"'));
    return line === undefined ? result : { ...result, uplink: uplinkSchema.parse(JSON.parse(line)).uplink };
  };

  const journalOf = async (stdout: string): Promise<EventEnvelope[]> => {
    const runId = /run (r[0-9-a-f]+):/.exec(stdout)?.[1];
    if (runId === undefined) throw new Error(`no run id in:\n${stdout}`);
    const { stdout: lines } = await groundcrew("journal", "export", "--run", runId);
    return lines
      .trim()
      .split("\n")
      .map((line) => eventEnvelopeSchema.parse(JSON.parse(line)));
  };

  const asRoot = async (name: string, argv: [string, ...string[]]): Promise<string> => {
    const machine = lab.machines.find((item) => item.name === name);
    if (machine === undefined) throw new Error(`no machine ${name}`);
    const session = await SshSession.connect({
      name,
      host: machine.address,
      username: "root",
      privateKey: lab.privateKey,
      hostKeys: pinnedKeys(machine.hostKeys.map(keyBlobFromLine)),
    });
    try {
      const result = await session.run(argv);
      if (result.code !== 0) throw new Error(`${name}: ${argv.join(" ")}: ${result.stderr}`);
      return result.stdout;
    } finally {
      session.close();
    }
  };

  /** Every file in a host's store, as "<sha256 of its content> <its name>". */
  const storeOf = async (name: string): Promise<string[]> => {
    const out = await asRoot(name, ["sh", "-c", "cd /var/lib/groundcrew/cas/sha256 && sha256sum -- *"]);
    return out.trim().split("\n").sort();
  };

  beforeAll(async () => {
    lab = await startLab({ machines: 4 });
    work = await mkdtemp(path.join(tmpdir(), "groundcrew-bundle-e2e-"));
    const debs = (await readdir(DEBS)).filter((file) => file.endsWith(".deb")).sort();
    if (debs.length === 0) throw new Error(`no .deb files in ${DEBS}: run scripts/setup`);
    const lock = [
      "name: lab-debs",
      "arch: [amd64]",
      "artifacts:",
      ...debs.flatMap((file) => {
        const deb = debFileName(file);
        if (deb === undefined) throw new Error(`not a Debian file name: ${file}`);
        return [
          `  - path: debs/${deb.name}.deb`,
          "    kind: deb",
          "    component: docker",
          `    name: ${deb.name}`,
          `    version: "${deb.version}"`,
          `    arch: ${deb.arch}`,
          `    source: "file:${path.join(DEBS, file)}"`,
        ];
      }),
      "",
    ].join("\n");
    await writeFile(path.join(work, "lab.lock.yaml"), lock);
    bundle = path.join(work, "lab.tar");
    const built = await groundcrew(
      "bundle",
      "build",
      "--lock",
      path.join(work, "lab.lock.yaml"),
      "--out",
      bundle,
    );
    expect(built.code, built.stderr).toBe(0);
    const hashes = await Promise.all(
      debs.map(async (file) => {
        const bytes = await readFile(path.join(DEBS, file));
        return { sha: createHash("sha256").update(bytes).digest("hex"), size: bytes.length };
      }),
    );
    bundleBytes = hashes.reduce((sum, item) => sum + item.size, 0);
    expected = hashes.map((item) => `${item.sha}  ${item.sha}`).sort();

    const [depot, ...others] = lab.machines;
    if (depot === undefined) throw new Error("no machines");
    inventory = path.join(work, "fleet.yaml");
    await writeFile(
      inventory,
      [
        "defaults:",
        `  user: ${lab.user}`,
        `  key: ${lab.privateKeyPath}`,
        "  installDocker: true",
        "hosts:",
        `  - {name: ${depot.name}, address: ${depot.address}, role: server, depot: true}`,
        ...others.map((machine) => `  - {name: ${machine.name}, address: ${machine.address}, role: worker}`),
        "",
      ].join("\n"),
    );
    const knownHosts = await KnownHosts.open(path.join(work, "state"));
    for (const machine of lab.machines) {
      await knownHosts.pin(machine.address, 22, machine.hostKeys.map(keyBlobFromLine));
    }
    // The agent goes to every host first, so what `up` sends below is the bundle's cost alone.
    const checked = await groundcrew("check", "-i", inventory);
    expect(checked.code, checked.stdout).toBe(0);
  });

  afterAll(async () => {
    await lab.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("up sends each artifact once, to the depot; every host's store holds verified copies", async () => {
    const result = await up(bundle);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const uplink = result.uplink;
    expect(uplink).toBeDefined();
    if (uplink === undefined) return;
    expect(uplink.artifactsOverSsh).toBe(bundleBytes);
    expect(uplink.artifactsOverHttps).toBe(0);
    // About one bundle over the provisioner's link for four hosts, not four bundles.
    expect(uplink.sshBytes).toBeGreaterThan(bundleBytes);
    expect(uplink.sshBytes).toBeLessThan(bundleBytes * 1.1 + 2 * 2 ** 20);
    for (const machine of lab.machines) expect(await storeOf(machine.name), machine.name).toEqual(expected);
    const events = await journalOf(result.stdout);
    for (const machine of lab.machines.slice(1)) {
      const logs = events
        .filter((event) => event.host === machine.name && event.event.kind === "step.log")
        .map((event) => (event.event.kind === "step.log" ? event.event.line : ""));
      expect(logs.join("\n"), machine.name).toMatch(/depot node1/);
      expect(logs.join("\n"), machine.name).not.toMatch(/unreachable/);
    }
    const depotFetch = events.find(
      (event) =>
        event.host === "node1" &&
        event.event.kind === "step.skipped" &&
        event.event.stepId === "artifacts.fetch",
    );
    expect(depotFetch, "the depot already holds what the provisioner sent it").toBeDefined();
  });

  it("a second up sends nothing: every store is complete", async () => {
    const result = await up(bundle);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.uplink?.artifactsOverSsh).toBe(0);
    expect(result.uplink?.artifactsOverHttps).toBe(0);
    expect(result.uplink?.sshBytes).toBeLessThan(2 ** 20);
    const events = await journalOf(result.stdout);
    const fetches = events.filter(
      (event) =>
        "stepId" in event.event &&
        event.event.stepId === "artifacts.fetch" &&
        ["step.succeeded", "step.skipped", "step.failed"].includes(event.event.kind),
    );
    expect(fetches.map((event) => event.event.kind)).toEqual(Array(4).fill("step.skipped"));
  });

  it("a host that cannot reach the depot fetches from the provisioner, and the journal says so", async () => {
    await asRoot("node4", ["rm", "-rf", "/var/lib/groundcrew/cas"]);
    await asRoot("node4", ["iptables", "-I", "OUTPUT", "-p", "tcp", "--dport", "7444", "-j", "REJECT"]);
    try {
      const result = await up(bundle);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.uplink?.artifactsOverSsh).toBe(0);
      expect(result.uplink?.artifactsOverHttps).toBe(bundleBytes);
      expect(await storeOf("node4")).toEqual(expected);
      const events = await journalOf(result.stdout);
      const logs = events
        .filter((event) => event.host === "node4" && event.event.kind === "step.log")
        .map((event) => (event.event.kind === "step.log" ? event.event.line : ""))
        .join("\n");
      expect(logs).toMatch(/depot node1 unreachable.*from the provisioner/);
    } finally {
      await asRoot("node4", ["iptables", "-D", "OUTPUT", "-p", "tcp", "--dport", "7444", "-j", "REJECT"]);
    }
  });

  it("a tampered bundle is refused before any host is touched, naming the artifact", async () => {
    const extracted = path.join(work, "tampered");
    await run("mkdir", ["-p", extracted]);
    await run("tar", ["-xf", bundle, "-C", extracted]);
    const victim = path.join(extracted, "debs", "runc.deb");
    const bytes = await readFile(victim);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
    await writeFile(victim, bytes);
    const tampered = path.join(work, "tampered.tar");
    await run("tar", ["-cf", tampered, "-C", extracted, "."]);
    const before = (await groundcrew("status", "--json")).stdout;
    const result = await up(tampered);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("debs/runc.deb");
    expect(result.stderr).toContain("BUNDLE_ARTIFACT_MISMATCH");
    expect(result.stdout).not.toMatch(/node\d/);
    expect((await groundcrew("status", "--json")).stdout).toBe(before);
  });
});
