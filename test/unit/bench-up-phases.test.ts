import { describe, expect, it } from "vitest";
import { pushResult } from "../bench/agent-push.js";
import { benchSizes } from "../bench/bench-env.js";
import { benchResultSchema } from "../bench/report/types.js";
import { scaleResult, type ScaleRow } from "../bench/scale.js";
import type { TimedLine, TimedRun } from "../bench/timed-cli.js";
import { upPhases, type JournalTimes } from "../bench/up-phases.js";

/** The scale benchmark's split of one `up` along its critical path, from a made-up run. */

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const iso = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();
const line = (seconds: number, value: object): TimedLine => ({
  at: T0 + seconds * 1000,
  stream: "stdout",
  text: JSON.stringify(value),
});

function run(lines: TimedLine[], exitAt: number): TimedRun {
  return { code: 0, startedAt: T0, exitedAt: T0 + exitAt * 1000, lines, stdout: "", stderr: "" };
}

const agentTransfer = (host: string, done: number) => ({
  host,
  transfer: { what: "the agent", bytesDone: done, bytesTotal: 100 },
});

/** node1 (depot + server) then node2 and node3 (workers); node3 is the slower worker. */
const journal: JournalTimes = {
  runId: "r-1",
  runStartedAt: iso(10),
  runFinishedAt: iso(60),
  hosts: [
    { host: "node1", startedAt: iso(20), finishedAt: iso(30) },
    { host: "node2", startedAt: iso(33), finishedAt: iso(45) },
    { host: "node3", startedAt: iso(34), finishedAt: iso(50) },
  ],
  steps: [
    { host: "node1", stepId: "artifacts.fetch", startedAt: null, finishedAt: iso(20.5) },
    { host: "node1", stepId: "k3s.install", startedAt: iso(22), finishedAt: iso(29) },
    { host: "node2", stepId: "artifacts.fetch", startedAt: iso(33), finishedAt: iso(43) },
    { host: "node3", stepId: "artifacts.fetch", startedAt: iso(34), finishedAt: iso(38) },
    { host: "node3", stepId: "k3s.install", startedAt: iso(38), finishedAt: iso(49) },
  ],
};

const lines: TimedLine[] = [
  line(2, agentTransfer("node1", 0)),
  line(3, agentTransfer("node2", 0)),
  line(8, agentTransfer("node1", 100)),
  line(9, agentTransfer("node2", 100)),
  line(12, { host: "node1", phase: "depot: storing 5 artifact(s), 105 MiB" }),
  line(13, { host: "node1", transfer: { what: "artifacts", bytesDone: 50, bytesTotal: 100 } }),
  line(16, { host: "node1", phase: "depot: 5 artifact(s) sent (105 MiB), 0 already there" }),
  { at: T0 + 17_000, stream: "stderr", text: "not json" },
];

describe("upPhases", () => {
  const phases = upPhases(run(lines, 61), journal, [["node1"], ["node2", "node3"]]);

  it("splits the wall time along the slowest host of each phase, and the parts add up", () => {
    expect(phases).toMatchObject({
      total: 61,
      check: 10,
      agentPush: 7,
      depotFill: 4,
      // node1: 20 − 10 − 4 (depot); node3, the slowest worker: 34 − 30.
      agentStart: 6 + 4,
      fetch: 4,
      // node1's run (10 s) and node3's (16 s) less node3's fetch.
      steps: 10 + 16 - 4,
      verify: 10,
      exit: 1,
    });
    const parts = ["check", "depotFill", "agentStart", "fetch", "steps", "verify", "exit"] as const;
    expect(parts.reduce((sum, part) => sum + phases[part], 0)).toBeCloseTo(phases.total, 6);
  });

  it("lists the critical path's steps longest first, from the slowest hosts only", () => {
    expect(phases.criticalSteps).toEqual([
      { stepId: "k3s.install", seconds: 7 + 11 },
      { stepId: "artifacts.fetch", seconds: 4 },
    ]);
  });

  it("refuses a run where a host never finished", () => {
    const unfinished = {
      ...journal,
      hosts: journal.hosts.map((host) => (host.host === "node2" ? { ...host, finishedAt: null } : host)),
    };
    expect(() => upPhases(run(lines, 61), unfinished, [["node1"], ["node2", "node3"]])).toThrow(/node2/);
  });
});

describe("benchSizes", () => {
  it("reads a comma-separated list, keeps its order and drops repeats; unset gives the defaults", () => {
    expect(benchSizes("3, 1,3", [1, 3, 6, 10])).toEqual([3, 1]);
    expect(benchSizes(undefined, [1, 3])).toEqual([1, 3]);
    expect(benchSizes(" ", [2])).toEqual([2]);
  });

  it("refuses what is not a size from 1 to 32", () => {
    for (const value of ["0", "33", "1.5", "x", "1,,3", "-1"]) {
      expect(() => benchSizes(value, [1]), value).toThrow(RangeError);
    }
  });
});

describe("the scale and push results", () => {
  const phases = upPhases(run(lines, 61), journal, [["node1"], ["node2", "node3"]]);
  const uplink = { sshBytes: 1000, artifactsOverSsh: 0, artifactsOverHttps: 24 };
  const row = (hosts: number, build: ScaleRow["build"], factor: number): ScaleRow => ({
    hosts,
    run: "first",
    build,
    phases: { ...phases, total: phases.total * factor, agentStart: phases.agentStart * factor },
    uplink,
  });

  it("scale: valid rows with ratios against 1 host and against the baseline build", () => {
    const result = benchResultSchema.parse(
      scaleResult(
        [row(1, "baseline", 1), row(1, "current", 0.5), row(3, "baseline", 4), row(3, "current", 1)],
        600,
      ),
    );
    const three = result.rows.find((item) => item.case === "3 host(s), first up");
    expect(three?.ratios).toEqual([
      { name: "time / time(1 host)", value: 2 },
      { name: "time / baseline", value: 0.25 },
      { name: "agent start / baseline", value: 0.25 },
    ]);
    expect(three?.values.find((value) => value.name === "provisioner sent")?.value).toBe(1024);
    expect(result.notes).toContain("time(3)/time(1), first up, baseline build: 4.00×.");
    expect(result.notes.at(-1)).toMatch(/took 10\.0 min/);
  });

  it("push: valid rows, cold against present", () => {
    const result = benchResultSchema.parse(
      pushResult([
        { what: "push", state: "cold", seconds: 3, agentBytes: 100, sshBytes: 120, repeats: 3 },
        { what: "push", state: "present", seconds: 0.5, agentBytes: 0, sshBytes: 600, repeats: 3 },
        { what: "check", state: "cold", seconds: 8, agentBytes: 0, sshBytes: 0, repeats: 3 },
        { what: "check", state: "present", seconds: 4, agentBytes: 0, sshBytes: 0, repeats: 3 },
      ]),
    );
    expect(result.rows.map((item) => item.ratios.map((ratio) => ratio.value))).toEqual([[6], [], [2], []]);
    expect(result.rows[2]?.values.map((value) => value.name)).toEqual(["time"]);
  });
});
