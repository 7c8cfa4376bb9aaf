import { z } from "zod";

/**
 * What every benchmark hands back, and what `npm run bench` turns into the
 * markdown table, docs/benchmarks.md and docs/benchmarks.svg. A benchmark
 * measures; it never formats or writes files itself.
 */

/**
 * How a value is shown: seconds, milliseconds, bytes, a plain count, or a
 * rate whose unit names what is counted ("events/s", "MiB/s").
 */
export type Unit = "s" | "ms" | "bytes" | "count" | "%" | `${string}/s`;

const unitSchema = z.union([
  z.enum(["s", "ms", "bytes", "count", "%"]),
  z.custom<`${string}/s`>((value) => typeof value === "string" && /^[A-Za-z]{1,12}\/s$/.test(value)),
]);

export const valueSchema = z
  .object({
    /** Short, e.g. "ingest", "ack p99", "server RSS". */
    name: z.string().min(1).max(40),
    value: z.number().finite(),
    unit: unitSchema,
    /** Drawn as a bar in the chart; bars are grouped by benchmark and value name (one scale each). */
    chart: z.boolean().optional(),
  })
  .strict();

/** A ratio of two values measured in the same run ("batched / per-event": 14.2 shows as 14.2×). */
export const ratioSchema = z.object({ name: z.string().min(1).max(60), value: z.number().finite() }).strict();

export const rowSchema = z
  .object({
    /** What was measured, e.g. "100 agents, window 64". Unique within a benchmark. */
    case: z.string().min(1).max(80),
    values: z.array(valueSchema).max(12),
    ratios: z.array(ratioSchema).max(6),
  })
  .strict();

export const benchResultSchema = z
  .object({
    /** The registry name (`npm run bench -- NAME`). */
    benchmark: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
    /** One line saying what the benchmark does. */
    title: z.string().min(1).max(200),
    rows: z.array(rowSchema).max(100),
    /** Sentences shown under the table: sizes, checks (exactly once), limits met. */
    notes: z.array(z.string().max(1000)).max(30),
  })
  .strict();

export type Value = z.infer<typeof valueSchema>;
export type Ratio = z.infer<typeof ratioSchema>;
export type Row = z.infer<typeof rowSchema>;
export type BenchResult = z.infer<typeof benchResultSchema>;

/** How a run was asked for; every benchmark gets it. */
export interface BenchOptions {
  /** Small sizes, for trying a benchmark out on a busy machine; the numbers are not for the docs. */
  readonly quick: boolean;
}

/** A benchmark: measures and returns rows. Never part of the test suite. */
export type Benchmark = (options: BenchOptions) => Promise<BenchResult>;
