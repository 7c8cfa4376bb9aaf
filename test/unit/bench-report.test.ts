import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { formatRatio, formatValue } from "../bench/report/format.js";
import type { Machine } from "../bench/report/machine.js";
import { benchmarksPage, resultsTable } from "../bench/report/markdown.js";
import { percentile, summarize } from "../bench/report/stats.js";
import { mergeRecords, readRecords, serializeRecords, type BenchRecord } from "../bench/report/store.js";
import { chartPanels, renderChart } from "../bench/report/svg.js";
import type { BenchResult } from "../bench/report/types.js";

const machine: Machine = {
  cpu: "Test CPU",
  cores: 2,
  memoryBytes: 8 * 2 ** 30,
  kernel: "Linux 6.1.0 x64",
  node: "v20.20.2",
  loadAverage: 0.5,
};

function record(result: BenchResult, measuredAt = "2025-01-02T03:04:05.000Z", quick = false): BenchRecord {
  return { result, machine, measuredAt, wallSeconds: 12, quick };
}

const journal: BenchResult = {
  benchmark: "journal",
  title: "ingest",
  rows: [
    {
      case: "alone | per event",
      values: [
        { name: "ingest", value: 2000, unit: "events/s", chart: true },
        { name: "per commit", value: 0.5, unit: "ms" },
      ],
      ratios: [],
    },
    {
      case: "alone, batched <100>",
      values: [{ name: "ingest", value: 40_000, unit: "events/s", chart: true }],
      ratios: [{ name: "batched / per-event", value: 20 }],
    },
  ],
  notes: ["exactly once"],
};

const agents: BenchResult = {
  benchmark: "agents",
  title: "many",
  rows: [
    {
      case: "1,000 agents",
      values: [
        { name: "server RSS", value: 100 * 2 ** 20, unit: "bytes", chart: true },
        { name: "fds", value: 1040, unit: "count" },
      ],
      ratios: [],
    },
  ],
  notes: [],
};

describe("benchmark statistics", () => {
  it("takes nearest-rank percentiles", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(sorted, 50)).toBe(5);
    expect(percentile(sorted, 99)).toBe(10);
    expect(percentile(sorted, 0)).toBe(1);
    expect(percentile([], 50)).toBe(0);
    expect(summarize([10, 1, 5, 3])).toEqual({ count: 4, mean: 4.75, p50: 3, p90: 10, p99: 10, max: 10 });
  });
});

describe("benchmark formatting", () => {
  it("shows each unit", () => {
    expect(formatValue(1234.5, "events/s")).toBe("1,235 events/s");
    expect(formatValue(0.4567, "ms")).toBe("0.457 ms");
    expect(formatValue(12.34, "s")).toBe("12.3 s");
    expect(formatValue(3 * 2 ** 20, "bytes")).toBe("3 MiB");
    expect(formatValue(1040, "count")).toBe("1,040");
    expect(formatRatio({ name: "a / b", value: 14.26 })).toBe("a / b 14.3×");
  });

  it("puts every row of every record in one table, pipes escaped", () => {
    const table = resultsTable([record(journal), record(agents)]).split("\n");
    expect(table[0]).toBe("| benchmark | case | measured | ratios (same run) |");
    expect(table).toHaveLength(5);
    expect(table[2]).toBe("| journal | alone \\| per event | ingest 2,000 events/s · per commit 0.5 ms |  |");
    expect(table[3]).toContain("| batched / per-event 20× |");
    expect(table[4]).toContain("| agents | 1,000 agents | server RSS 100 MiB · fds 1,040 |");
  });

  it("writes a page with the chart, the machine and the quick marker", () => {
    const page = benchmarksPage([record(journal, undefined, true), record(agents)], "benchmarks.svg");
    expect(page).toContain("![Benchmark chart](benchmarks.svg)");
    expect(page).toContain("### journal: ingest");
    expect(page).toContain("with the small sizes of `--quick`");
    expect(page.match(/--quick/g)?.length).toBe(1);
    expect(page).toContain("- **A**: Test CPU, 2 cores, 8 GiB RAM, Linux 6.1.0 x64, Node v20.20.2");
    expect(page).toContain("- exactly once");
  });
});

describe("benchmark store", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("replaces a benchmark's record in place and keeps the others", () => {
    const later = record({ ...journal, title: "again" }, "2025-02-01T00:00:00.000Z");
    const merged = mergeRecords([record(journal), record(agents)], [later]);
    expect(merged.map((one) => [one.result.benchmark, one.result.title])).toEqual([
      ["journal", "again"],
      ["agents", "many"],
    ]);
  });

  it("reads back what it wrote and refuses a file that is not a store", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "bench-store-"));
    const file = path.join(dir, "benchmarks.json");
    expect(await readRecords(file)).toEqual([]);
    await writeFile(file, serializeRecords([record(journal)]));
    expect(await readRecords(file)).toEqual([record(journal)]);
    await writeFile(file, JSON.stringify({ version: 1, records: [{ result: journal }] }));
    await expect(readRecords(file)).rejects.toThrow(/not a benchmark store/);
  });
});

describe("benchmark chart", () => {
  it("draws one panel per benchmark and charted value, bars to one scale per panel", () => {
    const panels = chartPanels([record(journal), record(agents)]);
    expect(panels.map((panel) => [panel.title, panel.bars.length])).toEqual([
      ["journal: ingest (events/s)", 2],
      ["agents: server RSS (bytes)", 1],
    ]);
    const svg = renderChart([record(journal), record(agents)], "latest run 2025-01-02");
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((match) =>
      Number(match[1]),
    );
    expect(widths).toHaveLength(3);
    expect(widths[0]! / widths[1]!).toBeCloseTo(2000 / 40_000, 2);
    expect(widths[2]).toBe(widths[1]);
    expect(svg).toContain("alone, batched &lt;100&gt;");
    expect(svg).toContain(">40,000 events/s<");
    expect(svg).not.toContain("per commit");
    expect(renderChart([record(journal), record(agents)], "latest run 2025-01-02")).toBe(svg);
  });

  it("says so when nothing is charted", () => {
    expect(renderChart([], "none")).toContain("no charted values yet");
  });
});
