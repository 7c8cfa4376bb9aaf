import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startDepotServer, type DepotServer } from "../../agent/cas/depot-server.js";
import { CasStore } from "../../agent/cas/store.js";
import { localFs } from "../../agent/host/local-fs.js";
import { Ledger } from "../../agent/ledger/ledger.js";
import { createRegistry } from "../../agent/runner/registry.js";
import { recordingReporter } from "../../agent/runner/reporter.js";
import { runPlan } from "../../agent/runner/run-plan.js";
import type { HostContext, StepProgress } from "../../agent/runner/step.js";
import { fetchArtifactsStep } from "../../agent/steps/fetch-artifacts.js";
import { ALL_STEPS } from "../../agent/steps/index.js";
import type { ArtifactRef } from "../../shared/artifacts.js";
import type { ArtifactSource } from "../../shared/depot-config.js";
import { isGroundcrewError } from "../../shared/errors.js";
import { hostServerName } from "../../shared/host-identity.js";
import type { Plan } from "../../shared/protocol.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";
import { fakeExec } from "../fakes/fake-exec.js";

function artifact(content: Buffer, name: string): ArtifactRef {
  const sha256 = createHash("sha256").update(content).digest("hex");
  return { sha256, size: content.byteLength, path: name, kind: "image-archive" };
}

async function* once(content: Buffer): AsyncGenerator<Uint8Array> {
  await Promise.resolve();
  yield content;
}

/** Every path under `dir`, relative, sorted (directories end with "/"). */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .map((entry) => {
      const relative = path.relative(dir, path.join(entry.parentPath, entry.name));
      return entry.isDirectory() ? `${relative}/` : relative;
    })
    .sort();
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

describe("artifacts.fetch", { timeout: 30_000 }, () => {
  let world: TlsWorld;
  let base: string;
  let depot: DepotServer;
  let depotSource: ArtifactSource;
  let tlsFiles: { ca: string; cert: string; key: string };
  const imageA = randomBytes(700 * 1024);
  const refA = artifact(imageA, "images/a.tar");
  const chartB = randomBytes(20 * 1024);
  const refB = artifact(chartB, "charts/b.tgz");

  // Per test: a host root (its store is <host>/var/lib/groundcrew/cas, missing at first) and a state dir.
  let host: string;
  let casDir: string;
  let stateDir: string;
  let logs: string[];
  let progress: StepProgress[];

  beforeAll(async () => {
    world = await makeTlsWorld();
    base = await mkdtemp(path.join(tmpdir(), "gc-step-fetch-"));
    const depot1 = await world.hostCert("depot1");
    const node1 = await world.hostCert("node1");
    const depotStore = new CasStore(path.join(base, "depot"));
    await depotStore.writeFrom(refA, once(imageA), 0);
    await depotStore.writeFrom(refB, once(chartB), 0);
    depot = await startDepotServer({
      root: depotStore.root,
      port: 0,
      host: "127.0.0.1",
      tls: { caPem: depot1.caPem, certPem: depot1.certPem, keyPem: depot1.keyPem },
      allowedHosts: ["node1"],
    });
    depotSource = {
      name: "the provisioner",
      url: `https://127.0.0.1:${depot.port}/`,
      serverName: hostServerName("depot1"),
    };
    const tls = path.join(base, "tls");
    await mkdir(tls, { mode: 0o700 });
    tlsFiles = {
      ca: path.join(tls, "ca.pem"),
      cert: path.join(tls, "node1.pem"),
      key: path.join(tls, "node1-key.pem"),
    };
    await writeFile(tlsFiles.ca, node1.caPem, { mode: 0o600 });
    await writeFile(tlsFiles.cert, node1.certPem, { mode: 0o600 });
    await writeFile(tlsFiles.key, node1.keyPem, { mode: 0o600 });
  });
  afterAll(async () => {
    await depot.close();
    await world.dispose();
    await rm(base, { recursive: true, force: true });
  });

  beforeEach(async () => {
    host = await mkdtemp(path.join(base, "host-"));
    await mkdir(path.join(host, "var"));
    casDir = path.join(host, "var/lib/groundcrew/cas");
    stateDir = await mkdtemp(path.join(base, "state-"));
    logs = [];
    progress = [];
  });
  afterEach(async () => {
    await rm(host, { recursive: true, force: true });
  });

  function params(sources: ArtifactSource[] = [depotSource], artifacts = [refA, refB]) {
    return { artifacts, sources, tls: tlsFiles, casDir };
  }

  function harness(stepParams: unknown = params()) {
    const bound = fetchArtifactsStep.bind(stepParams);
    const ledger = new Ledger(localFs, stateDir).forStep(fetchArtifactsStep.id);
    const context: HostContext = {
      exec: fakeExec({}),
      fs: localFs,
      ledger,
      log: (line) => logs.push(line),
      progress: (update) => progress.push(update),
    };
    return {
      bound,
      ledger,
      check: () => bound.check(context),
      apply: () => bound.apply(context),
      verify: () => bound.verify(context),
      undo: () => bound.undo(context),
    };
  }

  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const total = imageA.byteLength + chartB.byteLength;

  it("is registered, and titled with the count and size", () => {
    expect(ALL_STEPS.map((step) => step.id)).toContain("artifacts.fetch");
    expect(harness().bound.title).toBe(`Fetch 2 artifacts (${mib(total)})`);
    expect(harness(params([depotSource], [refB])).bound.title).toBe("Fetch 1 artifact (0.0 MiB)");
  });

  it("fetches what is missing, reports progress over all artifacts, records it, and is done afterwards", async () => {
    const step = harness();
    expect(await step.check()).toEqual({
      done: false,
      reason: `2 of 2 artifacts are missing from ${casDir} (${mib(total)} to fetch)`,
    });
    const { changes } = await step.apply();
    expect(changes).toEqual([
      `fetched images/a.tar (${mib(imageA.byteLength)}) from the provisioner`,
      `fetched charts/b.tgz (${mib(chartB.byteLength)}) from the provisioner`,
    ]);
    expect(logs).toEqual(changes);
    await step.verify();
    expect(await step.check()).toEqual({ done: true, reason: `all 2 artifacts are in ${casDir}` });

    expect(progress.every((update) => update.bytesTotal === total)).toBe(true);
    expect(progress.at(-1)).toMatchObject({ bytesDone: total, message: "fetching charts/b.tgz" });
    const done = progress.map((update) => update.bytesDone ?? 0);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    // Throttled: a handful of updates, not one per chunk.
    expect(progress.length).toBeLessThanOrEqual(6);

    const record = await step.ledger.read();
    expect(record?.files).toEqual([
      { path: `${casDir}/sha256/${refA.sha256}`, sha256: refA.sha256, mode: 0o644, previous: null },
      { path: `${casDir}/sha256/${refB.sha256}`, sha256: refB.sha256, mode: 0o644, previous: null },
    ]);
    expect(record?.directories).toEqual([
      path.join(host, "var/lib"),
      path.join(host, "var/lib/groundcrew"),
      casDir,
      `${casDir}/sha256`,
      `${casDir}/tmp`,
    ]);
  });

  it("says where an artifact came from when the first source failed", async () => {
    const down: ArtifactSource = { name: "depot cp1", url: `https://127.0.0.1:${await closedPort()}` };
    const step = harness(params([down, depotSource], [refB]));
    await step.apply();
    expect(logs).toEqual([
      `depot cp1 unreachable (ECONNREFUSED): fetched charts/b.tgz (${mib(chartB.byteLength)}) from the provisioner`,
    ]);
  });

  it("runs once and is skipped on a re-run; undo removes exactly what it fetched and created", async () => {
    const before = await tree(host);
    const registry = createRegistry([fetchArtifactsStep]);
    const ledger = new Ledger(localFs, stateDir);
    const run = async (action: Plan["action"]) => {
      const reporter = recordingReporter();
      const plan: Plan = {
        runId: "run-1",
        host: "node1",
        action,
        steps: [{ id: "artifacts.fetch", title: "", params: params() }],
      };
      const finished = await runPlan(plan, { registry, exec: fakeExec({}), fs: localFs, ledger, reporter });
      return { finished, reporter };
    };
    const first = await run("apply");
    expect(first.finished).toMatchObject({ outcome: "succeeded", succeeded: 1 });
    const second = await run("apply");
    expect(second.reporter.sequence()).toEqual([
      "run.started",
      "step.started artifacts.fetch",
      "step.skipped artifacts.fetch",
      "run.finished",
    ]);

    const undo = await run("undo");
    expect(undo.finished).toMatchObject({ outcome: "succeeded", succeeded: 1 });
    const succeeded = undo.reporter.events.find((event) => event.kind === "step.succeeded");
    expect(succeeded?.kind === "step.succeeded" ? succeeded.changes : []).toEqual([
      `removed ${casDir}/sha256/${refB.sha256}`,
      `removed ${casDir}/sha256/${refA.sha256}`,
      `removed directory ${casDir}/tmp`,
      `removed directory ${casDir}/sha256`,
      `removed directory ${casDir}`,
      `removed directory ${path.join(host, "var/lib/groundcrew")}`,
      `removed directory ${path.join(host, "var/lib")}`,
    ]);
    expect(await tree(host)).toEqual(before);
    expect(await ledger.read("artifacts.fetch")).toBeUndefined();
  });

  it("leaves an artifact that was already there (pushed over SSH) alone, and counts it as done", async () => {
    const pushed = new CasStore(casDir);
    await pushed.writeFrom(refA, once(imageA), 0);
    const step = harness();
    expect((await step.check()).reason).toBe(
      `1 of 2 artifacts are missing from ${casDir} (${mib(chartB.byteLength)} to fetch)`,
    );
    expect((await step.apply()).changes).toEqual([
      `fetched charts/b.tgz (${mib(chartB.byteLength)}) from the provisioner`,
    ]);
    expect(progress[0]?.bytesDone).toBeGreaterThanOrEqual(imageA.byteLength);
    expect((await step.ledger.read())?.files.map((file) => file.sha256)).toEqual([refB.sha256]);
    expect((await step.ledger.read())?.directories).toEqual([]);
    expect((await step.undo()).changes).toEqual([`removed ${casDir}/sha256/${refB.sha256}`]);
    expect(await pushed.has(refA)).toBe(true);
    expect(await pushed.has(refB)).toBe(false);
  });

  it("fails with CAS_FETCH_FAILED when no source delivers; verify says what is missing; undo cleans up", async () => {
    const before = await tree(host);
    const down: ArtifactSource = { name: "depot cp1", url: `https://127.0.0.1:${await closedPort()}` };
    const step = harness(params([down], [refB]));
    const error: unknown = await step.apply().catch((caught: unknown) => caught);
    expect(isGroundcrewError(error, "CAS_FETCH_FAILED")).toBe(true);
    expect(error instanceof Error ? error.message : "").toMatch(
      /^cannot fetch charts\/b\.tgz .*depot cp1: connect ECONNREFUSED/,
    );
    await expect(step.verify()).rejects.toMatchObject({
      code: "STEP_VERIFY_FAILED",
      message: `charts/b.tgz is not stored at ${casDir}/sha256/${refB.sha256} with ${chartB.byteLength} bytes`,
    });
    // The transfer was recorded before it started: undo has it, and removes the directories made for it.
    expect((await step.ledger.read())?.files).toHaveLength(1);
    await step.undo();
    expect(await tree(host)).toEqual(before);
  });

  it("verify catches an artifact that disappeared", async () => {
    const step = harness();
    await step.apply();
    await rm(`${casDir}/sha256/${refA.sha256}`);
    await expect(step.verify()).rejects.toMatchObject({ code: "STEP_VERIFY_FAILED" });
    expect((await step.check()).done).toBe(false);
  });

  it("refuses parameters that are not valid", () => {
    const bad: [unknown, RegExp][] = [
      [{ ...params(), sources: [] }, /at sources: Array must contain at least 1/],
      [
        { ...params(), sources: [{ name: "x", url: "http://127.0.0.1:1" }] },
        /at sources\.0\.url: an https:\/\/ URL/,
      ],
      [{ ...params(), sources: [{ name: "x", url: "https://u:p@127.0.0.1:1" }] }, /at sources\.0\.url/],
      [{ ...params(), casDir: "var/lib/cas" }, /at casDir: an absolute path/],
      [{ ...params(), casDir: "/var/lib/../cas" }, /at casDir: a path without \. or \.\. segments/],
      [{ ...params(), tls: { ...tlsFiles, key: "key.pem" } }, /at tls\.key/],
      [{ ...params(), artifacts: [{ ...refA, sha256: "ab" }] }, /at artifacts\.0\.sha256/],
      [{ ...params(), extra: true }, /Unrecognized key/],
    ];
    for (const [raw, message] of bad) {
      expect(() => fetchArtifactsStep.bind(raw)).toThrow(message);
    }
  });
});
