import { describe, expect, it } from "vitest";
import { Ledger } from "../../agent/ledger/ledger.js";
import { Outbox, outboxReporter } from "../../agent/outbox/outbox.js";
import { completionReporter, RunState } from "../../agent/outbox/run-state.js";
import type { Reporter } from "../../agent/runner/reporter.js";
import { runPlan } from "../../agent/runner/run-plan.js";
import { defaultRegistry } from "../../agent/steps/index.js";
import type { Plan } from "../../shared/protocol.js";
import { fakePrepHost } from "../fakes/prep-host.js";
import { TEST_STATE_DIR } from "../fakes/step-harness.js";

const plan: Plan = {
  runId: "run-9",
  host: "node-1",
  action: "apply",
  steps: ["host.swap-off", "host.kernel-modules", "host.sysctl"].map((id) => ({ id, title: "", params: {} })),
};

/** What the agent wires for a run: the outbox (durable events) and the run state (resume), on one host. */
async function agentRun(
  host: ReturnType<typeof fakePrepHost>,
  crashAfter?: (event: { kind: string }) => boolean,
) {
  const outbox = await Outbox.open(host.fs, TEST_STATE_DIR, plan.runId, plan.host);
  const runState = await RunState.open(host.fs, TEST_STATE_DIR, plan.runId);
  const durable = completionReporter(runState, outboxReporter(outbox));
  const reporter: Reporter = {
    async emit(event) {
      await durable.emit(event);
      if (crashAfter?.(event) === true) throw new Error("agent killed");
    },
  };
  const deps = {
    registry: defaultRegistry(),
    ...host,
    ledger: new Ledger(host.fs, TEST_STATE_DIR),
    reporter,
  };
  return { outbox, run: () => runPlan(plan, { ...deps, completed: runState.completed }) };
}

describe("a restarted agent", () => {
  it("resumes after the steps it finished, with gapless seqs and one final result per step", async () => {
    const host = fakePrepHost({ loadableModules: false, builtIn: { overlay: true, brNetfilter: true } });
    const first = await agentRun(host, (event) => event.kind === "step.succeeded");
    await expect(first.run()).rejects.toThrow("agent killed");

    const second = await agentRun(host);
    const finished = await second.run();
    expect(finished).toMatchObject({ outcome: "succeeded", succeeded: 2, skipped: 0 });
    const events = second.outbox.pending();
    expect(events.map((envelope) => envelope.seq)).toEqual(events.map((_, i) => i + 1));
    const finals = events
      .map((envelope) => envelope.event)
      .filter((event) => event.kind === "step.succeeded" || event.kind === "step.skipped")
      .map((event) => `${event.kind} ${event.stepId}`);
    expect(finals).toEqual([
      "step.succeeded host.swap-off",
      "step.succeeded host.kernel-modules",
      "step.succeeded host.sysctl",
    ]);
  });
});
