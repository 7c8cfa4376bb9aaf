import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventEnvelopeSchema, type EventEnvelope } from "../../shared/protocol.js";
import { startLabFleet, uplinkOf, writeDebsLock, type LabFleet } from "../support/lab-fleet.js";

const run = promisify(execFile);
/** Distinct from the other lab tests' ports and the demo's 7443. */
const PORT = "17445";

describe("bundle delivery: one upload to the depot, the fleet fetches from it (1 depot + 3 machines)", () => {
  let fleet: LabFleet;
  let inventory: string;
  let bundle: string;
  let bundleBytes: number;
  let expected: string[];

  const up = async (bundleFile: string) => {
    const result = await fleet.groundcrew("up", "-i", inventory, "-b", bundleFile, "--port", PORT, "--json");
    return { ...result, uplink: uplinkOf(result.stdout) };
  };

  const journalOf = async (stdout: string): Promise<EventEnvelope[]> => {
    const runId = /run (r[0-9-a-f]+):/.exec(stdout)?.[1];
    if (runId === undefined) throw new Error(`no run id in:\n${stdout}`);
    const { stdout: lines } = await fleet.groundcrew("journal", "export", "--run", runId);
    return lines
      .trim()
      .split("\n")
      .map((line) => eventEnvelopeSchema.parse(JSON.parse(line)));
  };

  const logsOf = (events: readonly EventEnvelope[], host: string): string =>
    events
      .flatMap((event) => (event.host === host && event.event.kind === "step.log" ? [event.event.line] : []))
      .join("\n");

  /** Every file in a host's store, as "<sha256 of its content>  <its name>". */
  const storeOf = async (name: string): Promise<string[]> => {
    const out = await fleet.asRoot(name, ["sh", "-c", "cd /var/lib/groundcrew/cas/sha256 && sha256sum -- *"]);
    return out.trim().split("\n").sort();
  };

  beforeAll(async () => {
    fleet = await startLabFleet(4);
    const lock = await writeDebsLock(path.join(fleet.work, "lab.lock.yaml"));
    bundleBytes = lock.bytes;
    expected = lock.sha256s.map((sha) => `${sha}  ${sha}`).sort();
    bundle = path.join(fleet.work, "lab.tar");
    const built = await fleet.groundcrew("bundle", "build", "--lock", lock.file, "--out", bundle);
    expect(built.code, built.stderr).toBe(0);
    inventory = await fleet.writeInventory("fleet.yaml", { depot: true, installDocker: false });
    // The agent goes to every host first, so what `up` sends below is the bundle's cost alone.
    const checked = await fleet.groundcrew("check", "-i", inventory);
    expect(checked.code, checked.stdout).toBe(0);
  });

  afterAll(async () => {
    await fleet.stop();
  });

  it("up sends each artifact once, to the depot; every host's store holds verified copies", async () => {
    // An air gap: the machines reach nothing but each other and the provisioner, so all came from us.
    expect(fleet.lab.network.internal).toBe(true);
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
    for (const machine of fleet.lab.machines)
      expect(await storeOf(machine.name), machine.name).toEqual(expected);
    const events = await journalOf(result.stdout);
    for (const host of ["node2", "node3", "node4"]) {
      expect(logsOf(events, host), host).toMatch(/from depot node1/);
      expect(logsOf(events, host), host).not.toMatch(/unreachable/);
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
    await fleet.asRoot("node4", ["rm", "-rf", "/var/lib/groundcrew/cas"]);
    const rule = ["OUTPUT", "-p", "tcp", "--dport", "7444", "-j", "REJECT"];
    await fleet.asRoot("node4", ["iptables", "-I", ...rule]);
    try {
      const result = await up(bundle);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.uplink?.artifactsOverSsh).toBe(0);
      expect(result.uplink?.artifactsOverHttps).toBe(bundleBytes);
      expect(await storeOf("node4")).toEqual(expected);
      expect(logsOf(await journalOf(result.stdout), "node4")).toMatch(
        /depot node1 unreachable.*from the provisioner/,
      );
    } finally {
      await fleet.asRoot("node4", ["iptables", "-D", ...rule]);
    }
  });

  it("a tampered bundle is refused before any host is touched, naming the artifact", async () => {
    const extracted = path.join(fleet.work, "tampered");
    await run("mkdir", ["-p", extracted]);
    await run("tar", ["-xf", bundle, "-C", extracted]);
    const victim = path.join(extracted, "debs", "runc.deb");
    const bytes = await readFile(victim);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
    await writeFile(victim, bytes);
    const tampered = path.join(fleet.work, "tampered.tar");
    await run("tar", ["-cf", tampered, "-C", extracted, "."]);
    const before = (await fleet.groundcrew("status", "--json")).stdout;
    const result = await up(tampered);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("debs/runc.deb");
    expect(result.stderr).toContain("BUNDLE_ARTIFACT_MISMATCH");
    expect(result.stdout).not.toMatch(/node\d/);
    expect((await fleet.groundcrew("status", "--json")).stdout).toBe(before);
  });
});
