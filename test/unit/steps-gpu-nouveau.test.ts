import { afterEach, describe, expect, it, vi } from "vitest";
import { Ledger } from "../../agent/ledger/ledger.js";
import { Outbox, outboxReporter } from "../../agent/outbox/outbox.js";
import { completionReporter, RunState } from "../../agent/outbox/run-state.js";
import { runPlan } from "../../agent/runner/run-plan.js";
import {
  gpuNouveauStep,
  NOUVEAU_BLACKLIST,
  NOUVEAU_BLACKLIST_CONTENT,
} from "../../agent/steps/gpu-nouveau.js";
import { defaultRegistry } from "../../agent/steps/index.js";
import { isGroundcrewError } from "../../shared/errors.js";
import type { Plan } from "../../shared/protocol.js";
import { fakeGpuHost, HEADER_DEBS, RUNFILE_REF, debRef, type FakeGpuHost } from "../fakes/gpu-host.js";
import { hostTree, stepHarness, TEST_STATE_DIR } from "../fakes/step-harness.js";

/** Lets the step run until it has asked for the reboot (setImmediate stays real under the fake timers used here). */
async function untilRebootRequested(host: FakeGpuHost): Promise<void> {
  for (let i = 0; i < 1000 && host.state.rebootsRequested === 0; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(host.state.rebootsRequested).toBe(1);
}

afterEach(() => {
  vi.useRealTimers();
});

describe("gpu.nouveau", () => {
  it("is done with nothing to blacklist on a kernel without nouveau, and where a working NVIDIA driver is (adopted)", async () => {
    const bare = fakeGpuHost({ nouveau: "absent" });
    expect(await stepHarness(gpuNouveauStep, bare).check()).toEqual({
      done: true,
      reason: "this kernel has no nouveau module: nothing to blacklist",
    });
    const withDriver = fakeGpuHost({ nouveau: "available", driver: { by: "runfile", loaded: true } });
    const before = hostTree(withDriver.fs);
    const step = stepHarness(gpuNouveauStep, withDriver);
    expect(await step.check()).toEqual({
      done: true,
      reason: "a working NVIDIA driver is present: nouveau is not in its way, nothing to blacklist",
    });
    expect(await step.undo()).toEqual({ changes: [] });
    expect(hostTree(withDriver.fs)).toEqual(before);
    expect(withDriver.exec.commandLines().filter((line) => !line.startsWith("nvidia-smi"))).toEqual([]);
  });

  it("blacklists a nouveau that is not loaded without a reboot; undo restores the host exactly", async () => {
    const host = fakeGpuHost({ nouveau: "available" });
    const before = hostTree(host.fs);
    const step = stepHarness(gpuNouveauStep, host);
    expect(await step.check()).toEqual({ done: false, reason: `${NOUVEAU_BLACKLIST} is missing or differs` });
    expect(await step.apply()).toEqual({ changes: [`wrote ${NOUVEAU_BLACKLIST}`, "updated the initramfs"] });
    await step.verify();
    expect(await host.fs.readText(NOUVEAU_BLACKLIST)).toBe(NOUVEAU_BLACKLIST_CONTENT);
    expect(NOUVEAU_BLACKLIST_CONTENT).toContain("blacklist nouveau\noptions nouveau modeset=0\n");
    expect(host.state.initramfsBlacklists).toBe(true);
    expect(host.state.rebootsRequested).toBe(0);
    expect(await step.check()).toEqual({
      done: true,
      reason: `${NOUVEAU_BLACKLIST} blacklists nouveau and nouveau is not loaded`,
    });
    expect(await step.apply()).toEqual({ changes: [] });

    expect(await step.undo()).toEqual({ changes: [`removed ${NOUVEAU_BLACKLIST}`, "updated the initramfs"] });
    expect(host.state.initramfsBlacklists).toBe(false);
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("reboots when nouveau is loaded, and the check after the boot says done", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const host = fakeGpuHost({ nouveau: "loaded" });
    const step = stepHarness(gpuNouveauStep, host);
    expect(await step.check()).toEqual({
      done: false,
      reason: `${NOUVEAU_BLACKLIST} is missing or differs; nouveau is loaded (a reboot will unload it)`,
    });
    let settled = false;
    void step.apply().finally(() => {
      settled = true;
    });
    await untilRebootRequested(host);
    expect(host.exec.commandLines()).toEqual([
      "nvidia-smi --query-gpu=name,driver_version --format=csv,noheader",
      "update-initramfs -u",
      "systemctl reboot",
    ]);
    expect(step.logs).toEqual([
      `rebooting to unload nouveau (${NOUVEAU_BLACKLIST} is in place); the run resumes after the boot`,
    ]);
    const record = await step.ledger.read();
    expect(record?.files.map((file) => file.path)).toEqual([NOUVEAU_BLACKLIST]);
    expect(record?.reboots).toEqual([
      { bootId: "0b5c1d5e-0000-4000-8000-000000000001", reason: "to unload nouveau" },
    ]);
    // The step waits for the reboot to kill the agent: it neither succeeds nor fails meanwhile.
    await vi.advanceTimersByTimeAsync(599_000);
    expect(settled).toBe(false);

    await host.reboot();
    const resumed = stepHarness(gpuNouveauStep, host);
    expect(await resumed.check()).toEqual({
      done: true,
      reason: `${NOUVEAU_BLACKLIST} blacklists nouveau and nouveau is not loaded`,
    });
    await resumed.verify();
  });

  it("fails when the host does not go down within rebootTimeoutSec", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const host = fakeGpuHost({ nouveau: "loaded" });
    const step = stepHarness(gpuNouveauStep, host, { rebootTimeoutSec: 30 });
    const applying = step.apply().catch((error: unknown) => error);
    await untilRebootRequested(host);
    await vi.advanceTimersByTimeAsync(30_000);
    const error = await applying;
    expect(isGroundcrewError(error, "HOST_REBOOT_TIMEOUT")).toBe(true);
    expect((error as Error).message).toMatch(
      /asked the host to reboot \(to unload nouveau\) but it is still up 30 s later/,
    );
  });

  it("refuses to reboot again when nouveau is still loaded after its reboot (no reboot loop)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const host = fakeGpuHost({ nouveau: "loaded" });
    void stepHarness(gpuNouveauStep, host)
      .apply()
      .catch(() => undefined);
    await untilRebootRequested(host);
    await host.reboot();
    // Something forces nouveau in anyway (built in, or modprobe.blacklist missing from the command line).
    host.state.nouveauLoaded = true;
    await host.fs.writeFileAtomic("/proc/modules", "nouveau 2809856 0 - Live 0x0\n", 0o444);
    const step = stepHarness(gpuNouveauStep, host);
    expect(await step.check()).toMatchObject({ done: false });
    const error = await step.apply().catch((caught: unknown) => caught);
    expect(isGroundcrewError(error, "NVIDIA_NOUVEAU_LOADED")).toBe(true);
    expect((error as Error).message).toContain(
      `nouveau is still loaded after the reboot groundcrew asked for to unload it (${NOUVEAU_BLACKLIST} is in place)`,
    );
    expect(host.state.rebootsRequested).toBe(1);
  });

  it("verify names the file, and a loaded nouveau", async () => {
    const host = fakeGpuHost({ nouveau: "available" });
    const step = stepHarness(gpuNouveauStep, host);
    await expect(step.verify()).rejects.toThrow(`${NOUVEAU_BLACKLIST} does not blacklist nouveau`);
    await step.apply();
    host.state.nouveauLoaded = true;
    await host.fs.writeFileAtomic("/proc/modules", "nouveau 2809856 0 - Live 0x0\n", 0o444);
    await expect(step.verify()).rejects.toMatchObject({ code: "NVIDIA_NOUVEAU_LOADED" });
  });

  it("validates its params", () => {
    expect(() => gpuNouveauStep.bind({ rebootTimeoutSec: 0 })).toThrow(
      /gpu.nouveau are not valid at rebootTimeoutSec/,
    );
    expect(() => gpuNouveauStep.bind({ reboot: true })).toThrow(/STEP_PARAMS_INVALID|not valid/);
    expect(() => gpuNouveauStep.bind({})).not.toThrow();
  });
});

describe("a run across the nouveau reboot", () => {
  const plan: Plan = {
    runId: "run-gpu",
    host: "gpu-1",
    action: "apply",
    steps: [
      { id: "gpu.nouveau", title: "", params: {} },
      { id: "gpu.driver", title: "", params: { runfile: RUNFILE_REF, debs: [debRef(HEADER_DEBS.own)] } },
    ],
  };

  /** The agent as `serve` wires it: outbox, run state, the runner resuming after completed steps. */
  async function agentRun(host: FakeGpuHost) {
    const outbox = await Outbox.open(host.fs, TEST_STATE_DIR, plan.runId, plan.host);
    const runState = await RunState.open(host.fs, TEST_STATE_DIR, plan.runId);
    const run = runPlan(plan, {
      registry: defaultRegistry(),
      exec: host.exec,
      fs: host.fs,
      ledger: new Ledger(host.fs, TEST_STATE_DIR),
      reporter: completionReporter(runState, outboxReporter(outbox)),
      completed: runState.completed,
    });
    return { outbox, run };
  }

  it("resumes at the interrupted step after the boot: its check says done and the driver step runs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const host = fakeGpuHost({ nouveau: "loaded" });
    await agentRun(host);
    await untilRebootRequested(host);
    // The reboot kills the agent here; systemd starts it again at boot.
    await host.reboot();
    const second = await agentRun(host);
    expect(await second.run).toMatchObject({ outcome: "succeeded", skipped: 1, succeeded: 1 });
    const events = second.outbox.pending().map((envelope) => envelope.event);
    expect(second.outbox.pending().map((envelope) => envelope.seq)).toEqual(events.map((_, i) => i + 1));
    const steps = events
      .filter((event) => event.kind !== "step.log" && event.kind !== "step.progress")
      .map((event) => ("stepId" in event ? `${event.kind} ${event.stepId}` : event.kind));
    expect(steps).toEqual([
      "run.started",
      "step.started gpu.nouveau",
      // The first agent's last words, then the resumed run.
      "run.started",
      "step.started gpu.nouveau",
      "step.skipped gpu.nouveau",
      "step.started gpu.driver",
      "step.succeeded gpu.driver",
      "run.finished",
    ]);
    expect(events).toContainEqual(expect.objectContaining({ kind: "step.log", stepId: "gpu.nouveau" }));
    expect(host.state.rebootsRequested).toBe(1);
    expect(host.state.nvidiaLoaded).toBe(true);
  });
});
