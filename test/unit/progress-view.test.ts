import { describe, expect, it } from "vitest";
import type { AgentEvent, EventEnvelope } from "../../shared/protocol.js";
import { bar } from "../../server/cli/progress/host-line.js";
import { ProgressView, describeEvent } from "../../server/cli/progress/progress-view.js";

let seq = 0;
function envelope(host: string, event: AgentEvent): EventEnvelope {
  seq += 1;
  return { runId: "r1", host, seq, at: "2026-11-21T12:00:00.000Z", event };
}

function capture(): { sink: { write: (text: string) => void }; text: () => string } {
  let text = "";
  return { sink: { write: (chunk) => (text += chunk) }, text: () => text };
}

describe("progress view", () => {
  it("prints one escaped line per event when stdout is not a terminal", () => {
    const { sink, text } = capture();
    const view = new ProgressView(["node1", "node22"], sink, "lines");
    view.phase("node1", "pushing agent");
    view.event(
      envelope("node1", {
        kind: "step.started",
        stepId: "host.sysctl",
        title: "Kernel parameters",
        index: 1,
        total: 3,
      }),
    );
    view.event(
      envelope("node22", {
        kind: "step.log",
        stepId: "host.sysctl",
        stream: "stderr",
        line: "evil\u001b[2J\u001b]0;x\u0007",
      }),
    );
    expect(text()).toContain("node1   pushing agent\n");
    expect(text()).toMatch(/node1 {3}#\d+ \[2\/3\] host\.sysctl: Kernel parameters\n/);
    expect(text()).toContain("stderr: evil\\x1b[2J\\x1b]0;x\\x07");
    expect(text()).not.toContain("\u001b");
  });

  it("redraws one line per host in a terminal, with step k/n and a transfer bar", () => {
    const { sink, text } = capture();
    const view = new ProgressView(["a", "b"], sink, "tty");
    view.event(envelope("a", { kind: "run.started", action: "apply", steps: 4 }));
    view.event(
      envelope("a", {
        kind: "step.started",
        stepId: "bundle.fetch",
        title: "Fetch \u001b[31mred",
        index: 2,
        total: 4,
      }),
    );
    view.event(
      envelope("a", { kind: "step.progress", stepId: "bundle.fetch", bytesDone: 50, bytesTotal: 100 }),
    );
    const frames = text().split("\u001b[2F");
    const last = frames[frames.length - 1] ?? "";
    expect(last).toContain("a     [3/4] Fetch \\x1b[31mred  [##########----------]  50%");
    expect(last).toContain("b     waiting");
    view.event(
      envelope("b", { kind: "run.finished", outcome: "failed", succeeded: 1, skipped: 0, failed: 1 }),
    );
    expect(text().split("\u001b[2F").pop()).toContain("b     FAILED  1 done, 0 skipped, 1 FAILED");
  });

  it("shows the agent transfer as a bar with rate and time left, in quarters when printing plain lines", () => {
    const { sink, text } = capture();
    let now = 0;
    const view = new ProgressView(["node1"], sink, "lines", () => now);
    for (let done = 0; done <= 100; done += 5) {
      view.transfer("node1", done * 1024 * 1024, 100 * 1024 * 1024);
      now += 100;
    }
    const lines = text().trim().split("\n");
    expect(lines).toHaveLength(5);
    // 50 MiB in 1 s: 50 MiB/s, 50 MiB left.
    expect(lines[2]).toBe(
      "node1  sending the agent [##########----------]  50%  50 MiB of 100 MiB  50 MiB/s  ETA 1 s",
    );
    expect(lines[4]).toBe(
      "node1  sending the agent [####################] 100%  100 MiB of 100 MiB  50 MiB/s",
    );
    const tty = capture();
    const live = new ProgressView(["node1"], tty.sink, "tty");
    live.transfer("node1", 30, 100);
    expect(tty.text()).toContain("node1  sending the agent  [######--------------]  30%  30 B of 100 B");
  });

  it("emits JSON lines in json mode", () => {
    const { sink, text } = capture();
    const view = new ProgressView(["a"], sink, "json");
    const sent = envelope("a", { kind: "step.skipped", stepId: "host.swap-off", reason: "no swap" });
    view.event(sent);
    expect(JSON.parse(text().trim())).toEqual(sent);
  });

  it("describes every event kind in words", () => {
    expect(
      describeEvent(
        envelope("a", {
          kind: "step.failed",
          stepId: "x",
          durationMs: 5,
          error: { code: "E", message: "m" },
        }),
      ),
    ).toMatch(/x FAILED \(E\): m$/);
    expect(
      describeEvent(
        envelope("a", { kind: "run.finished", outcome: "succeeded", succeeded: 3, skipped: 1, failed: 0 }),
      ),
    ).toMatch(/run succeeded: 3 succeeded, 1 skipped, 0 failed$/);
    expect(bar(1, 4, 8)).toBe("[##------]  25%");
  });
});
