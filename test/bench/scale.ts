import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { clusterTestBundle } from "../support/cluster-fixture.js";
import { startLabFleet, uplinkOf, type Uplink } from "../support/lab-fleet.js";
import { benchSizes } from "./bench-env.js";
import type { BenchOptions, BenchResult, Row, Value } from "./report/types.js";
import { mustSucceed, timedGroundcrew } from "./timed-cli.js";
import { readJournalTimes, upPhases, type UpPhases } from "./up-phases.js";

const SIZES = [1, 3, 6, 10] as const;
const QUICK_SIZES = [1, 3] as const;
const PORT = "17471";

/** One `up` of the scale benchmark: a fleet of `hosts`, its first run or the no-change run after it. */
export interface ScaleRow {
  readonly hosts: number;
  readonly run: "first" | "no-change";
  /** "current" is dist/; "baseline" the build BENCH_SCALE_BASELINE names. */
  readonly build: "current" | "baseline";
  readonly phases: UpPhases;
  readonly uplink: Uplink;
}

/**
 * Wall time of `up` from one cluster bundle (the k3s double as k3s) on fresh
 * lab fleets of N hosts, 1 server (node1, also the depot) + N−1 workers, then
 * of a second `up` that has nothing to change; each split by phase from the
 * journal (up-phases.ts). N from BENCH_SCALE_SIZES (e.g. "1,3"), else 1, 3,
 * 6, 10 (--quick: 1, 3). BENCH_SCALE_BASELINE=PATH/server/cli/main.js runs
 * every size with that build too, on its own fresh fleet, for a before/after
 * in one table. BENCH_SCALE_TRACE=DIR keeps each run's timed output lines and
 * journal times there. Needs Docker and `npm run build`; run it under the
 * lab lock.
 */
export async function scale(options: BenchOptions): Promise<BenchResult> {
  const began = Date.now();
  const sizes = benchSizes(process.env["BENCH_SCALE_SIZES"], options.quick ? QUICK_SIZES : SIZES);
  const baseline = process.env["BENCH_SCALE_BASELINE"];
  const builds = [
    ...(baseline === undefined || baseline === "" ? [] : [{ build: "baseline" as const, cli: baseline }]),
    { build: "current" as const, cli: undefined },
  ];
  const scratch = await mkdtemp(path.join(os.tmpdir(), "groundcrew-bench-scale-"));
  const rows: ScaleRow[] = [];
  try {
    const bundle = (await clusterTestBundle(path.join(scratch, "bundle"))).file;
    for (const hosts of sizes) {
      for (const { build, cli } of builds) rows.push(...(await measureFleet(hosts, bundle, build, cli)));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return scaleResult(rows, (Date.now() - began) / 1000);
}

/** A fresh fleet of `hosts`: `up`, then `up` again with nothing to change. */
async function measureFleet(
  hosts: number,
  bundle: string,
  build: ScaleRow["build"],
  cli: string | undefined,
): Promise<ScaleRow[]> {
  const trace = process.env["BENCH_SCALE_TRACE"];
  const fleet = await startLabFleet(hosts);
  const rows: ScaleRow[] = [];
  try {
    const inventory = await fleet.writeInventory("scale.yaml", { depot: true, installDocker: false });
    const state = path.join(fleet.work, "state");
    const names = fleet.lab.machines.map((machine) => machine.name);
    const phases = [names.slice(0, 1), names.slice(1)].filter((phase) => phase.length > 0);
    for (const run of ["first", "no-change"] as const) {
      const args = ["up", "-i", inventory, "-b", bundle, "--port", PORT, "--json"];
      const result = mustSucceed(
        await timedGroundcrew(state, args, cli === undefined ? {} : { cli }),
        `up (${hosts} host(s), ${run}, ${build})`,
      );
      const uplink = uplinkOf(result.stdout);
      if (uplink === undefined) throw new Error(`no uplink line in:\n${result.stdout}`);
      const journal = readJournalTimes(state);
      const measured = upPhases(result, journal, phases);
      if (trace !== undefined && trace !== "") {
        await mkdir(trace, { recursive: true });
        const lines = result.lines.map((line) => JSON.stringify({ ...line, at: line.at - result.startedAt }));
        const name = `${hosts}-${run}-${build}`;
        await writeFile(path.join(trace, `up-${name}.jsonl`), `${lines.join("\n")}\n`);
        await writeFile(path.join(trace, `journal-${name}.json`), JSON.stringify(journal, null, 1));
      }
      rows.push({ hosts, run, build, phases: measured, uplink });
      process.stderr.write(`scale: ${hosts} host(s), ${run}, ${build}: ${measured.total.toFixed(1)} s\n`);
    }
  } finally {
    await fleet.stop();
  }
  return rows;
}

/** The benchmark's result for `rows`: one table row per `up`, ratios against 1 host and the baseline, notes. */
export function scaleResult(rows: readonly ScaleRow[], benchmarkSeconds: number): BenchResult {
  const notes = [
    "Phases along the critical path, adding up to the wall time: check = CLI start until the run is journaled (bundle verification, SSH, agent push, facts, preflights); depot = artifacts sent to the depot; agent start = TLS files, agent unit installed and started, agent dialled back; fetch = the slowest host's artifacts.fetch; steps = the rest of its run; verify = nodes Ready, label sync, kubeconfig, cluster report; exit = after the run finished. Per phase of hosts (node1, then the workers in parallel), the host that finished last counts.",
    "Lab hosts are containers on the benchmark machine sharing its CPUs, so every host's work competes for the same cores; the k3s double stands in for k3s.",
  ];
  const largest = Math.max(...rows.map((row) => row.hosts));
  for (const build of ["current", "baseline"] as const) {
    for (const run of ["first", "no-change"] as const) {
      const one = find(rows, 1, run, build);
      const many = find(rows, largest, run, build);
      if (one !== undefined && many !== undefined && largest > 1) {
        notes.push(
          `time(${largest})/time(1), ${run} up${build === "baseline" ? ", baseline build" : ""}: ${(many.phases.total / one.phases.total).toFixed(2)}×.`,
        );
      }
    }
  }
  const widest = find(rows, largest, "first", "current");
  if (widest !== undefined) {
    const top = widest.phases.criticalSteps
      .slice(0, 5)
      .map((step) => `${step.stepId} ${step.seconds.toFixed(1)} s`)
      .join(", ");
    notes.push(`Longest steps on the critical path (${largest} host(s), first up): ${top}.`);
  }
  notes.push(
    `The benchmark took ${(benchmarkSeconds / 60).toFixed(1)} min (labs started and removed included).`,
  );
  return {
    benchmark: "scale",
    title:
      "`up` from one cluster bundle on N lab hosts (1 server and depot + N−1 workers), then again with nothing to change",
    rows: rows.map((row) => rowOf(row, rows)),
    notes,
  };
}

function find(
  rows: readonly ScaleRow[],
  hosts: number,
  run: ScaleRow["run"],
  build: ScaleRow["build"],
): ScaleRow | undefined {
  return rows.find((row) => row.hosts === hosts && row.run === run && row.build === build);
}

function rowOf(row: ScaleRow, rows: readonly ScaleRow[]): Row {
  const p = row.phases;
  const seconds = (name: string, value: number, chart = false): Value => ({
    name,
    value,
    unit: "s",
    ...(chart ? { chart } : {}),
  });
  const one = find(rows, 1, row.run, row.build);
  const baseline = row.build === "current" ? find(rows, row.hosts, row.run, "baseline") : undefined;
  return {
    case: `${row.hosts} host(s), ${row.run} up${row.build === "baseline" ? ", baseline" : ""}`,
    values: [
      seconds("wall time", p.total, true),
      seconds("check", p.check),
      seconds("of which agent push", p.agentPush),
      seconds("depot", p.depotFill),
      seconds("agent start", p.agentStart, true),
      seconds("fetch", p.fetch),
      seconds("steps", p.steps),
      seconds("verify", p.verify),
      seconds("exit", p.exit),
      { name: "provisioner sent", value: row.uplink.sshBytes + row.uplink.artifactsOverHttps, unit: "bytes" },
    ],
    ratios: [
      ...(one === undefined || row.hosts === 1
        ? []
        : [{ name: `time / time(1 host)`, value: p.total / one.phases.total }]),
      ...(baseline === undefined
        ? []
        : [
            { name: "time / baseline", value: p.total / baseline.phases.total },
            { name: "agent start / baseline", value: p.agentStart / baseline.phases.agentStart },
          ]),
    ],
  };
}
