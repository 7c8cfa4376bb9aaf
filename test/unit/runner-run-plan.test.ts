import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Ledger } from "../../agent/ledger/ledger.js";
import { writeOwnedFile } from "../../agent/ledger/owned-files.js";
import { undoRecorded } from "../../agent/ledger/undo.js";
import { createRegistry } from "../../agent/runner/registry.js";
import { recordingReporter } from "../../agent/runner/reporter.js";
import { runPlan } from "../../agent/runner/run-plan.js";
import { defineStep, type RegisteredStep } from "../../agent/runner/step.js";
import { StepError } from "../../agent/runner/step-error.js";
import { agentEventSchema, type Plan } from "../../shared/protocol.js";
import { fakeExec, type FakeExec } from "../fakes/fake-exec.js";
import { fakeFs, fsError, type FakeFs } from "../fakes/fake-fs.js";
import { TEST_STATE_DIR } from "../fakes/step-harness.js";

/** A step that owns /marks/<id>: done when the mark holds `text`. */
function markStep(id: string, options: { failApply?: Error; failUndo?: boolean } = {}): RegisteredStep {
  return defineStep({
    id,
    params: z.object({ text: z.string().default("mark") }).strict(),
    title: (params) => `Mark ${id} with ${params.text}`,
    async check({ fs, params }) {
      const done = (await fs.readTextIfExists(`/marks/${id}`)) === params.text;
      return { done, reason: done ? "marked" : "not marked" };
    },
    async apply({ fs, ledger, params, log, progress }) {
      log(`marking ${id}`);
      progress({ message: "half way", bytesDone: 1, bytesTotal: 2 });
      if (options.failApply !== undefined) throw options.failApply;
      await writeOwnedFile({ fs, ledger }, `/marks/${id}`, params.text, 0o644);
      return { changes: [`marked ${id}`] };
    },
    async verify({ fs, params }) {
      if ((await fs.readTextIfExists(`/marks/${id}`)) !== params.text) {
        throw new StepError("STEP_VERIFY_FAILED", `/marks/${id} is not marked`);
      }
    },
    async undo(ctx) {
      if (options.failUndo === true) throw new StepError("HOST_COMMAND_FAILED", "`undo` exited 1");
      return { changes: await undoRecorded(ctx) };
    },
  });
}

function plan(ids: string[], action: Plan["action"] = "apply"): Plan {
  return { runId: "run-1", host: "node-1", action, steps: ids.map((id) => ({ id, title: "", params: {} })) };
}

interface Host {
  fs: FakeFs;
  exec: FakeExec;
}

function newHost(): Host {
  return { fs: fakeFs({ "/marks/.keep": "" }), exec: fakeExec() };
}

async function run(host: Host, p: Plan, steps: RegisteredStep[], completed?: ReadonlySet<string>) {
  const reporter = recordingReporter();
  const finished = await runPlan(p, {
    registry: createRegistry(steps),
    exec: host.exec,
    fs: host.fs,
    ledger: new Ledger(host.fs, TEST_STATE_DIR),
    reporter,
    ...(completed === undefined ? {} : { completed }),
  });
  for (const event of reporter.events) agentEventSchema.parse(event);
  return { finished, reporter, sequence: reporter.sequence() };
}

const A = markStep("test.a");
const B = markStep("test.b");
const C = markStep("test.c");

describe("runPlan: apply", () => {
  it("runs every step: started, then succeeded with its changes, then run.finished with counts", async () => {
    const { finished, reporter, sequence } = await run(newHost(), plan(["test.a", "test.b"]), [A, B]);
    expect(sequence).toEqual([
      "run.started",
      "step.started test.a",
      "step.log test.a",
      "step.progress test.a",
      "step.succeeded test.a",
      "step.started test.b",
      "step.log test.b",
      "step.progress test.b",
      "step.succeeded test.b",
      "run.finished",
    ]);
    expect(reporter.events[0]).toEqual({ kind: "run.started", action: "apply", steps: 2 });
    expect(reporter.events[1]).toEqual({
      kind: "step.started",
      stepId: "test.a",
      title: "Mark test.a with mark",
      index: 0,
      total: 2,
    });
    expect(reporter.events[2]).toEqual({
      kind: "step.log",
      stepId: "test.a",
      stream: "info",
      line: "marking test.a",
    });
    expect(reporter.events[3]).toEqual({
      kind: "step.progress",
      stepId: "test.a",
      message: "half way",
      bytesDone: 1,
      bytesTotal: 2,
    });
    expect(reporter.events[4]).toEqual({
      kind: "step.succeeded",
      stepId: "test.a",
      durationMs: expect.any(Number) as unknown,
      changes: ["marked test.a"],
    });
    expect(finished).toEqual({
      kind: "run.finished",
      outcome: "succeeded",
      succeeded: 2,
      skipped: 0,
      failed: 0,
    });
  });

  it("on a converged host reports only skipped steps", async () => {
    const host = newHost();
    await run(host, plan(["test.a", "test.b"]), [A, B]);
    const writes = host.fs.writes.length;
    const { finished, reporter, sequence } = await run(host, plan(["test.a", "test.b"]), [A, B]);
    expect(sequence).toEqual([
      "run.started",
      "step.started test.a",
      "step.skipped test.a",
      "step.started test.b",
      "step.skipped test.b",
      "run.finished",
    ]);
    expect(reporter.events[2]).toEqual({ kind: "step.skipped", stepId: "test.a", reason: "marked" });
    expect(finished).toMatchObject({ outcome: "succeeded", succeeded: 0, skipped: 2 });
    expect(host.fs.writes.length).toBe(writes);
  });

  it("stops at the first failure: step.failed with code and message, later steps never start", async () => {
    const failing = markStep("test.fail", {
      failApply: new StepError("STEP_VERIFY_FAILED", "it broke at /x"),
    });
    const host = newHost();
    const { finished, reporter, sequence } = await run(host, plan(["test.a", "test.fail", "test.c"]), [
      A,
      failing,
      C,
    ]);
    expect(sequence).toEqual([
      "run.started",
      "step.started test.a",
      "step.log test.a",
      "step.progress test.a",
      "step.succeeded test.a",
      "step.started test.fail",
      "step.log test.fail",
      "step.progress test.fail",
      "step.failed test.fail",
      "run.finished",
    ]);
    expect(reporter.events[8]).toEqual({
      kind: "step.failed",
      stepId: "test.fail",
      durationMs: expect.any(Number) as unknown,
      error: { code: "STEP_VERIFY_FAILED", message: "it broke at /x" },
    });
    expect(finished).toEqual({
      kind: "run.finished",
      outcome: "failed",
      succeeded: 1,
      skipped: 0,
      failed: 1,
    });
    expect(await host.fs.readTextIfExists("/marks/test.c")).toBeUndefined();
  });

  it("reports unexpected errors as STEP_INTERNAL and file-system errors as HOST_IO_FAILED", async () => {
    const internal = markStep("test.bug", { failApply: new TypeError("x is undefined") });
    const io = markStep("test.io", { failApply: fsError("ENOSPC", "/var/lib/x", "write") });
    const first = await run(newHost(), plan(["test.bug"]), [internal]);
    expect(first.reporter.events.at(-2)).toMatchObject({
      error: { code: "STEP_INTERNAL", message: "x is undefined" },
    });
    const second = await run(newHost(), plan(["test.io"]), [io]);
    expect(second.reporter.events.at(-2)).toMatchObject({
      error: { code: "HOST_IO_FAILED", message: "ENOSPC: write '/var/lib/x'" },
    });
  });

  it("resumes: steps in `completed` emit nothing and do not run again", async () => {
    const host = newHost();
    const { finished, reporter, sequence } = await run(
      host,
      plan(["test.a", "test.b"]),
      [A, B],
      new Set(["test.a"]),
    );
    expect(sequence).toEqual([
      "run.started",
      "step.started test.b",
      "step.log test.b",
      "step.progress test.b",
      "step.succeeded test.b",
      "run.finished",
    ]);
    expect(reporter.events[1]).toMatchObject({ index: 1, total: 2 });
    expect(finished).toMatchObject({ succeeded: 1, skipped: 0 });
    expect(await host.fs.readTextIfExists("/marks/test.a")).toBeUndefined();
  });

  it("binds every step before running any: an unknown step or bad params fail the run with nothing changed", async () => {
    const host = newHost();
    const unknown = await run(host, plan(["test.a", "test.nope"]), [A]);
    expect(unknown.sequence).toEqual([
      "run.started",
      "step.started test.nope",
      "step.failed test.nope",
      "run.finished",
    ]);
    expect(unknown.reporter.events[1]).toMatchObject({ index: 1, total: 2 });
    expect(unknown.reporter.events[2]).toMatchObject({ error: { code: "STEP_UNKNOWN" } });
    const bad: Plan = { ...plan([]), steps: [{ id: "test.a", title: "A", params: { text: 7 } }] };
    const invalid = await run(host, bad, [A]);
    expect(invalid.reporter.events[2]).toMatchObject({
      error: {
        code: "STEP_PARAMS_INVALID",
        message: "parameters of test.a are not valid at text: Expected string, received number",
      },
    });
    expect(invalid.finished).toMatchObject({ outcome: "failed", failed: 1 });
    expect(host.fs.writes).toEqual([]);
  });

  it("uses the plan's title when it has one, and passes params to the step", async () => {
    const p: Plan = {
      ...plan([]),
      steps: [{ id: "test.a", title: "First mark", params: { text: "hello" } }],
    };
    const host = newHost();
    const { reporter } = await run(host, p, [A]);
    expect(reporter.events[1]).toMatchObject({ title: "First mark" });
    expect(await host.fs.readText("/marks/test.a")).toBe("hello");
  });

  it("gives check a read-only view: no write members, and only the declared probes may run", async () => {
    const seen: string[] = [];
    const sneaky = defineStep({
      id: "test.sneaky",
      params: z.object({}),
      probes: [["dpkg-query", "-W"]],
      title: () => "sneaky",
      async check({ fs, exec }) {
        seen.push(...["writeFileAtomic", "remove", "mkdirp", "rename", "chmod"].filter((name) => name in fs));
        await exec.run(["dpkg-query", "-W", "docker-ce"]);
        await exec.run(["rm", "-rf", "/etc"]);
        return { done: true, reason: "unreachable" };
      },
      apply: () => Promise.resolve({ changes: [] }),
      verify: () => Promise.resolve(),
      undo: () => Promise.resolve({ changes: [] }),
    });
    const host = newHost();
    host.exec.answer("dpkg-query -W docker-ce", { stdout: "docker-ce\t24.0.7\n" });
    const { reporter } = await run(host, plan(["test.sneaky"]), [sneaky]);
    expect(seen).toEqual([]);
    expect(host.exec.commandLines()).toEqual(["dpkg-query -W docker-ce"]);
    expect(reporter.events.at(-2)).toMatchObject({
      kind: "step.failed",
      error: {
        code: "STEP_CHECK_NOT_READ_ONLY",
        message: "the check of test.sneaky may not run `rm -rf /etc`: it is not one of the step's probes",
      },
    });
  });

  it("rejects when the reporter cannot record an event", async () => {
    const host = newHost();
    const reporter = {
      emit: (event: { kind: string }) =>
        event.kind === "step.log" ? Promise.reject(new Error("disk full")) : Promise.resolve(),
    };
    await expect(
      runPlan(plan(["test.a"]), {
        registry: createRegistry([A]),
        exec: host.exec,
        fs: host.fs,
        ledger: new Ledger(host.fs, TEST_STATE_DIR),
        reporter,
      }),
    ).rejects.toThrow("disk full");
  });
});

describe("runPlan: undo", () => {
  it("undoes in reverse order; a step with no ledger record is skipped; records are deleted", async () => {
    const host = newHost();
    const before = host.fs.snapshot();
    await run(host, plan(["test.a", "test.b"]), [A, B]);
    const { finished, reporter, sequence } = await run(host, plan(["test.a", "test.b", "test.c"], "undo"), [
      A,
      B,
      C,
    ]);
    expect(sequence).toEqual([
      "run.started",
      "step.started test.c",
      "step.skipped test.c",
      "step.started test.b",
      "step.succeeded test.b",
      "step.started test.a",
      "step.succeeded test.a",
      "run.finished",
    ]);
    expect(reporter.events[0]).toEqual({ kind: "run.started", action: "undo", steps: 3 });
    expect(reporter.events[1]).toMatchObject({ stepId: "test.c", index: 0, total: 3 });
    expect(reporter.events[2]).toEqual({
      kind: "step.skipped",
      stepId: "test.c",
      reason: "nothing recorded",
    });
    expect(reporter.events[4]).toMatchObject({ changes: ["removed /marks/test.b"] });
    expect(finished).toMatchObject({ outcome: "succeeded", succeeded: 2, skipped: 1 });
    expect(await host.fs.readDir(`${TEST_STATE_DIR}/ledger`)).toEqual([]);
    expect(
      Object.fromEntries(Object.entries(host.fs.snapshot()).filter(([p]) => p.startsWith("/marks"))),
    ).toEqual(before);
    // Undo again: nothing recorded anywhere.
    const again = await run(host, plan(["test.a", "test.b"], "undo"), [A, B]);
    expect(again.finished).toMatchObject({ succeeded: 0, skipped: 2 });
  });

  it("is best-effort: a failed undo is reported and the other steps are still undone", async () => {
    const host = newHost();
    const stuck = markStep("test.b", { failUndo: true });
    await run(host, plan(["test.a", "test.b"]), [A, stuck]);
    const { finished, sequence } = await run(host, plan(["test.a", "test.b"], "undo"), [A, stuck]);
    expect(sequence).toEqual([
      "run.started",
      "step.started test.b",
      "step.failed test.b",
      "step.started test.a",
      "step.succeeded test.a",
      "run.finished",
    ]);
    expect(finished).toMatchObject({ outcome: "failed", succeeded: 1, failed: 1 });
    expect(await new Ledger(host.fs, TEST_STATE_DIR).read("test.b")).toBeDefined();
  });
});
