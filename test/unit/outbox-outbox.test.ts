import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { localFs } from "../../agent/host/local-fs.js";
import { Outbox, outboxReporter } from "../../agent/outbox/outbox.js";
import { completionReporter, RunState } from "../../agent/outbox/run-state.js";
import type { AgentEvent } from "../../shared/protocol.js";
import { fakeFs, fsError, type FakeFs } from "../fakes/fake-fs.js";

const STATE = "/var/lib/groundcrew/agent/state";
const DIR = `${STATE}/outbox/run-1`;
const clock = () => new Date("2025-01-02T03:04:05.000Z");

const started = (stepId: string): AgentEvent => ({
  kind: "step.started",
  stepId,
  title: stepId,
  index: 0,
  total: 1,
});
const log = (line: string): AgentEvent => ({ kind: "step.log", stepId: "host.sysctl", stream: "info", line });

function open(fs: FakeFs, maxPending?: number): Promise<Outbox> {
  return Outbox.open(fs, STATE, "run-1", "node-1", clock, maxPending === undefined ? {} : { maxPending });
}

describe("Outbox", () => {
  it("assigns seqs from 1 and writes each envelope to disk before resolving", async () => {
    const fs = fakeFs({});
    const outbox = await open(fs);
    const first = await outbox.append({ kind: "run.started", action: "apply", steps: 1 });
    expect(first).toEqual({
      runId: "run-1",
      host: "node-1",
      seq: 1,
      at: "2025-01-02T03:04:05.000Z",
      event: { kind: "run.started", action: "apply", steps: 1 },
    });
    expect(JSON.parse(await fs.readText(`${DIR}/000000000001.json`))).toEqual(first);
    expect((await outbox.append(started("host.a")))?.seq).toBe(2);
    expect(outbox.pending().map((envelope) => envelope.seq)).toEqual([1, 2]);
    expect(outbox.pending(1).map((envelope) => envelope.seq)).toEqual([2]);
    expect(fs.modeOf(`${DIR}/000000000001.json`)).toBe(0o600);
    expect(fs.modeOf(DIR)).toBe(0o700);
  });

  it("survives a restart: re-open finds the unacked events and continues the seqs", async () => {
    const fs = fakeFs({});
    const before = await open(fs);
    for (const id of ["host.a", "host.b", "host.c"]) await before.append(started(id));
    await before.ack(1);
    const after = await open(fs);
    expect(after.ackedSeq).toBe(1);
    expect(after.lastSeq).toBe(3);
    expect(after.pending()).toEqual(before.pending());
    expect((await after.append(started("host.d")))?.seq).toBe(4);
  });

  it("acks cumulatively, deletes acked events, keeps the mark when everything is acked", async () => {
    const fs = fakeFs({});
    const outbox = await open(fs);
    for (const id of ["host.a", "host.b", "host.c"]) await outbox.append(started(id));
    await outbox.ack(2);
    expect(outbox.pending().map((envelope) => envelope.seq)).toEqual([3]);
    expect(await fs.readDir(DIR)).toEqual(["000000000003.json", "acked.json"]);
    await outbox.ack(1);
    expect(outbox.ackedSeq).toBe(2);
    await outbox.ack(3);
    expect(await fs.readDir(DIR)).toEqual(["acked.json"]);
    const reopened = await open(fs);
    expect(reopened.pending()).toEqual([]);
    expect((await reopened.append(started("host.d")))?.seq).toBe(4);
  });

  it("continues after an ack beyond its last seq (the provisioner journaled events this state lost)", async () => {
    const outbox = await open(fakeFs({}));
    await outbox.append(started("host.a"));
    await outbox.ack(50);
    expect(outbox.pending()).toEqual([]);
    expect((await outbox.append(started("host.b")))?.seq).toBe(51);
  });

  it("does not use a seq when the write fails, and names the path", async () => {
    let full = false;
    const fs = fakeFs({}, { fault: (op, path) => (full ? fsError("ENOSPC", path, op) : undefined) });
    const outbox = await open(fs);
    await outbox.append(started("host.a"));
    full = true;
    await expect(outbox.append(started("host.b"))).rejects.toMatchObject({
      code: "HOST_IO_FAILED",
      message: expect.stringContaining(`${DIR}/000000000002.json`) as unknown,
    });
    full = false;
    expect((await outbox.append(started("host.b")))?.seq).toBe(2);
    expect(outbox.pending().map((envelope) => envelope.event)).toEqual([
      started("host.a"),
      started("host.b"),
    ]);
  });

  it("past the bound drops progress and log events, never state changes, and says how many it dropped", async () => {
    const fs = fakeFs({});
    const outbox = await open(fs, 3);
    await outbox.append(started("host.sysctl"));
    await outbox.append(log("one"));
    await outbox.append(log("two"));
    expect(await outbox.append(log("three"))).toBeUndefined();
    expect(
      await outbox.append({ kind: "step.progress", stepId: "host.sysctl", bytesDone: 5 }),
    ).toBeUndefined();
    const succeeded = await outbox.append({
      kind: "step.succeeded",
      stepId: "host.sysctl",
      durationMs: 1,
      changes: [],
    });
    expect(succeeded?.seq).toBe(5);
    expect(outbox.pending().map((envelope) => envelope.event)).toEqual([
      started("host.sysctl"),
      log("one"),
      log("two"),
      log("groundcrew: 2 progress/log event(s) dropped while the outbox was full"),
      { kind: "step.succeeded", stepId: "host.sysctl", durationMs: 1, changes: [] },
    ]);
    await outbox.ack(5);
    expect((await outbox.append(log("four")))?.seq).toBe(6);
  });

  it("removes temp files an interrupted write left and refuses invalid or foreign event files", async () => {
    const valid = {
      runId: "run-1",
      host: "node-1",
      seq: 1,
      at: "2025-01-02T03:04:05.000Z",
      event: started("a.b"),
    };
    const fs = fakeFs({
      [`${DIR}/000000000001.json`]: JSON.stringify(valid),
      [`${DIR}/.000000000002.json.123-abc.tmp`]: "{half",
    });
    expect((await open(fs)).pending()).toEqual([valid]);
    expect(await fs.readDir(DIR)).toEqual(["000000000001.json"]);

    const foreign = fakeFs({ [`${DIR}/000000000001.json`]: JSON.stringify({ ...valid, host: "node-2" }) });
    await expect(open(foreign)).rejects.toMatchObject({ code: "AGENT_STATE_CORRUPT" });
    const garbage = fakeFs({ [`${DIR}/000000000001.json`]: "not json" });
    await expect(open(garbage)).rejects.toMatchObject({ code: "AGENT_STATE_CORRUPT" });
    const gap = fakeFs({ [`${DIR}/000000000002.json`]: JSON.stringify({ ...valid, seq: 2 }) });
    await expect(open(gap)).rejects.toMatchObject({
      code: "AGENT_STATE_CORRUPT",
      message: `outbox ${DIR} misses event 1`,
    });
  });

  it("serializes concurrent appends and acks in call order, and tells listeners", async () => {
    const outbox = await open(fakeFs({}));
    const seen: number[] = [];
    const stop = outbox.onAppend((envelope) => seen.push(envelope.seq));
    const results = await Promise.all([
      outbox.append(started("host.a")),
      outbox.append(started("host.b")),
      outbox.ack(1),
      outbox.append(started("host.c")),
    ]);
    expect(results.map((result) => (result === undefined ? undefined : result.seq))).toEqual([
      1,
      2,
      undefined,
      3,
    ]);
    expect(outbox.pending().map((envelope) => envelope.seq)).toEqual([2, 3]);
    stop();
    await outbox.append(started("host.d"));
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe("RunState", () => {
  it("records finished steps durably, so a restarted agent resumes after them", async () => {
    const fs = fakeFs({});
    const state = await RunState.open(fs, STATE, "run-1");
    const outbox = await open(fs);
    const reporter = completionReporter(state, outboxReporter(outbox));
    await reporter.emit(started("host.a"));
    await reporter.emit({ kind: "step.succeeded", stepId: "host.a", durationMs: 3, changes: [] });
    await reporter.emit({ kind: "step.skipped", stepId: "host.b", reason: "done" });
    await reporter.emit({
      kind: "step.failed",
      stepId: "host.c",
      durationMs: 1,
      error: { code: "X", message: "x" },
    });
    expect(outbox.lastSeq).toBe(4);
    const reopened = await RunState.open(fs, STATE, "run-1");
    expect([...reopened.completed]).toEqual(["host.a", "host.b"]);
    expect(JSON.parse(await fs.readText(`${STATE}/runs/run-1.json`))).toEqual({
      runId: "run-1",
      completed: ["host.a", "host.b"],
    });
  });

  it("marks a step only after its event was recorded", async () => {
    const fs = fakeFs({});
    const state = await RunState.open(fs, STATE, "run-1");
    const failing = { emit: () => Promise.reject(new Error("outbox full")) };
    await expect(
      completionReporter(state, failing).emit({ kind: "step.skipped", stepId: "host.a", reason: "done" }),
    ).rejects.toThrow("outbox full");
    expect(state.completed.size).toBe(0);
  });

  it("refuses a state file of another run or with invalid content", async () => {
    const fs = fakeFs({ [`${STATE}/runs/run-1.json`]: JSON.stringify({ runId: "run-2", completed: [] }) });
    await expect(RunState.open(fs, STATE, "run-1")).rejects.toMatchObject({ code: "AGENT_STATE_CORRUPT" });
    const bad = fakeFs({
      [`${STATE}/runs/run-1.json`]: JSON.stringify({ runId: "run-1", completed: "all" }),
    });
    await expect(RunState.open(bad, STATE, "run-1")).rejects.toMatchObject({ code: "AGENT_STATE_CORRUPT" });
  });
});

describe("Outbox on the real file system", () => {
  it("keeps events across a re-open and leaves no temp files", async () => {
    const stateDir = await mkdtemp(`${tmpdir()}/groundcrew-outbox-`);
    try {
      const first = await Outbox.open(localFs, stateDir, "run-1", "node-1", clock);
      await first.append(started("host.a"));
      await first.append(started("host.b"));
      await first.ack(1);
      const second = await Outbox.open(localFs, stateDir, "run-1", "node-1", clock);
      expect(second.pending().map((envelope) => envelope.event)).toEqual([started("host.b")]);
      expect((await second.append(started("host.c")))?.seq).toBe(3);
      expect(await readdir(`${stateDir}/outbox/run-1`)).toEqual([
        "000000000002.json",
        "000000000003.json",
        "acked.json",
      ]);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
