import path from "node:path";
import * as prettier from "prettier";
import { push } from "./agent-push.js";
import { agents } from "./agents.js";
import { distribution } from "./distribution.js";
import { PROFILE_ENV } from "./ingest/harness.js";
import { journal } from "./journal.js";
import { describeMachine } from "./report/machine.js";
import { benchmarksPage, consoleReport } from "./report/markdown.js";
import {
  mergeRecords,
  readRecords,
  serializeRecords,
  writeAtomic,
  type BenchRecord,
} from "./report/store.js";
import { renderChart } from "./report/svg.js";
import { scale } from "./scale.js";
import { benchResultSchema, type Benchmark, type BenchOptions } from "./report/types.js";

/**
 * Every benchmark by name, in the order `npm run bench` runs them. Each runs
 * alone with `npm run bench -- NAME`, returns rows (report/types.ts) and
 * leaves printing and docs/ to this file.
 */
const BENCHMARKS: Readonly<Record<string, Benchmark>> = { distribution, journal, agents, scale, push };

const DOCS = path.resolve("docs");
const FILES = {
  store: path.join(DOCS, "benchmarks.json"),
  page: path.join(DOCS, "benchmarks.md"),
  chart: path.join(DOCS, "benchmarks.svg"),
} as const;

const USAGE = `usage: npm run bench -- [--quick] [--no-write] [NAME ...]
  NAME        one of: ${Object.keys(BENCHMARKS).join(", ")} (default: all)
  --quick     small sizes, to try a benchmark out (marked as such in the docs)
  --no-write  print the table only; leave docs/benchmarks.{md,svg,json} alone
  ${PROFILE_ENV}=DIR  the load tests' provisioner writes a V8 CPU profile to DIR
`;

interface Request {
  readonly names: readonly string[];
  readonly options: BenchOptions;
  readonly write: boolean;
}

function parseArguments(args: readonly string[]): Request | string {
  const names: string[] = [];
  let quick = false;
  let write = true;
  for (const arg of args) {
    if (arg === "--quick") quick = true;
    else if (arg === "--no-write") write = false;
    else if (arg === "--help" || arg === "-h") return "";
    else if (arg.startsWith("-")) return `bench: unknown option ${arg}`;
    else if (!(arg in BENCHMARKS)) return `bench: unknown benchmark ${arg}`;
    else if (!names.includes(arg)) names.push(arg);
  }
  return { names: names.length === 0 ? Object.keys(BENCHMARKS) : names, options: { quick }, write };
}

async function runOne(name: string, benchmark: Benchmark, options: BenchOptions): Promise<BenchRecord> {
  const machine = describeMachine();
  const measuredAt = new Date().toISOString();
  const started = process.hrtime.bigint();
  process.stderr.write(`bench: ${name}${options.quick ? " (quick)" : ""} ...\n`);
  const result = benchResultSchema.parse(await benchmark(options));
  if (result.benchmark !== name) throw new Error(`benchmark ${name} reported itself as ${result.benchmark}`);
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { result, machine, measuredAt, wallSeconds, quick: options.quick };
}

/** `text` formatted as the repository's prettier config wants `file` (so `npm run lint` passes on it). */
async function prettyMarkdown(file: string, text: string): Promise<string> {
  const config = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...config, filepath: file });
}

async function main(args: readonly string[]): Promise<number> {
  const request = parseArguments(args);
  if (typeof request === "string") {
    process.stderr.write(request === "" ? USAGE : `${request}\n${USAGE}`);
    return request === "" ? 0 : 2;
  }
  const fresh: BenchRecord[] = [];
  let failed = false;
  for (const name of request.names) {
    const benchmark = BENCHMARKS[name];
    if (benchmark === undefined) continue;
    try {
      fresh.push(await runOne(name, benchmark, request.options));
    } catch (error) {
      failed = true;
      process.stderr.write(
        `bench: ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
    }
  }
  if (fresh.length > 0) process.stdout.write(consoleReport(fresh));
  if (request.write && fresh.length > 0) {
    const records = mergeRecords(await readRecords(FILES.store), fresh);
    const newest =
      records
        .map((record) => record.measuredAt)
        .sort()
        .at(-1) ?? "";
    await writeAtomic(FILES.store, serializeRecords(records));
    await writeAtomic(
      FILES.page,
      await prettyMarkdown(FILES.page, benchmarksPage(records, path.basename(FILES.chart))),
    );
    await writeAtomic(
      FILES.chart,
      renderChart(records, `latest run ${newest.slice(0, 10)}; machines and notes in benchmarks.md`),
    );
    process.stderr.write(
      `bench: wrote ${path.relative(process.cwd(), FILES.page)}, ${path.basename(FILES.chart)}, ${path.basename(FILES.store)}\n`,
    );
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
