import { describe, expect, it } from "vitest";
import { runPlanCommand } from "../../agent/commands/run-plan.js";
import { Ledger } from "../../agent/ledger/ledger.js";
import { recordingReporter } from "../../agent/runner/reporter.js";
import { runPlan } from "../../agent/runner/run-plan.js";
import { defaultRegistry } from "../../agent/steps/index.js";
import { agentEventSchema, type Plan } from "../../shared/protocol.js";
import { fakePrepHost, type PrepHostOptions } from "../fakes/prep-host.js";
import { hostTree, TEST_STATE_DIR } from "../fakes/step-harness.js";

const STEPS = ["host.swap-off", "host.kernel-modules", "host.sysctl"];

function prepPlan(action: Plan["action"]): Plan {
  return {
    runId: "run-7",
    host: "node-1",
    action,
    steps: STEPS.map((id) => ({ id, title: "", params: {} })),
  };
}

async function run(host: ReturnType<typeof fakePrepHost>, action: Plan["action"]) {
  const reporter = recordingReporter();
  const finished = await runPlan(prepPlan(action), {
    registry: defaultRegistry(),
    exec: host.exec,
    fs: host.fs,
    ledger: new Ledger(host.fs, TEST_STATE_DIR),
    reporter,
  });
  return { finished, sequence: reporter.sequence(), events: reporter.events };
}

const hosts: [string, PrepHostOptions][] = [
  ["a stock host (loadable modules, swap, systemd)", {}],
  [
    "the lab kernel (no loadable modules, overlay and br_netfilter built in)",
    { loadableModules: false, builtIn: { overlay: true, brNetfilter: true } },
  ],
];

describe.each(hosts)("host preparation on %s", (_name, options) => {
  it("applies, then a second run only skips, then undo leaves the host as it was", async () => {
    const host = fakePrepHost(options);
    const before = hostTree(host.fs);
    const first = await run(host, "apply");
    expect(first.finished).toMatchObject({ outcome: "succeeded", succeeded: 3, failed: 0 });
    const second = await run(host, "apply");
    expect(second.sequence).toEqual([
      "run.started",
      ...STEPS.flatMap((id) => [`step.started ${id}`, `step.skipped ${id}`]),
      "run.finished",
    ]);
    const undo = await run(host, "undo");
    expect(undo.finished).toMatchObject({ outcome: "succeeded", succeeded: 3 });
    for (const event of [...first.events, ...second.events, ...undo.events]) agentEventSchema.parse(event);
    // The agent's own state is down to an empty ledger: no record, no backup left behind.
    expect(Object.keys(host.fs.snapshot()).filter((p) => p.startsWith(TEST_STATE_DIR))).toEqual([
      `${TEST_STATE_DIR}/ledger`,
    ]);
    const after = hostTree(host.fs);
    if (options.loadableModules === false) {
      expect(after).toEqual(before);
    } else {
      // Loaded modules stay loaded until reboot (catalog H3): only the kernel's own view differs.
      const kernelOnly = (tree: Record<string, unknown>) =>
        Object.fromEntries(
          Object.entries(tree).filter(
            ([p]) =>
              !p.startsWith("/sys/module/") &&
              !p.startsWith("/proc/sys/net/bridge") &&
              p !== "/proc/filesystems",
          ),
        );
      expect(kernelOnly(after)).toEqual(kernelOnly(before));
    }
  });
});

describe("groundcrew-agent run --plan", () => {
  it("prints every event as a JSON line and exits 0 on success, 1 on failure", async () => {
    const host = fakePrepHost({ loadableModules: false, builtIn: { overlay: true, brNetfilter: true } });
    await host.fs.mkdirp("/root", 0o700);
    await host.fs.writeFileAtomic("/root/plan.json", JSON.stringify(prepPlan("apply")), 0o600);
    const out: string[] = [];
    const err: string[] = [];
    const deps = {
      ...host,
      stdout: (text: string) => out.push(text),
      stderr: (text: string) => err.push(text),
      stateDir: "/var/lib/gc",
      cwd: "/root",
    };
    expect(await runPlanCommand("plan.json", deps)).toBe(0);
    const events = out
      .join("")
      .trimEnd()
      .split("\n")
      .map((line) => agentEventSchema.parse(JSON.parse(line)));
    expect(events.at(-1)).toMatchObject({ kind: "run.finished", outcome: "succeeded", succeeded: 3 });
    expect(await host.fs.readDir("/var/lib/gc/ledger")).toContain("host.sysctl.json");
    expect(err).toEqual([]);

    host.exec.answer("systemctl unmask dev-sda2.swap", {
      code: 1,
      stderr: "Failed to unmask unit: Access denied\n",
    });
    await host.fs.writeFileAtomic("/root/undo.json", JSON.stringify(prepPlan("undo")), 0o600);
    expect(await runPlanCommand("/root/undo.json", deps)).toBe(1);
  });

  it("exits 1 with a message naming the file when the plan is missing or not valid", async () => {
    const host = fakePrepHost();
    await host.fs.mkdirp("/root", 0o700);
    await host.fs.writeFileAtomic(
      "/root/bad.json",
      JSON.stringify({ ...prepPlan("apply"), action: "nuke" }),
      0o600,
    );
    const err: string[] = [];
    const deps = { ...host, stdout: () => undefined, stderr: (text: string) => err.push(text), cwd: "/root" };
    expect(await runPlanCommand("bad.json", deps)).toBe(1);
    expect(await runPlanCommand("missing.json", deps)).toBe(1);
    expect(err[0]).toMatch(
      /^groundcrew-agent: plan \/root\/bad.json is not valid \(PLAN_INVALID\): invalid message at action/,
    );
    expect(err[1]).toMatch(/^groundcrew-agent: cannot read plan \/root\/missing.json: ENOENT/);
    expect(host.exec.calls).toEqual([]);
  });
});
