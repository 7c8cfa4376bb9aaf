import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { machineSchema } from "./machine.js";
import { benchResultSchema } from "./types.js";

/**
 * docs/benchmarks.json: the latest result of every benchmark with the
 * machine and moment it was measured. docs/benchmarks.md and the chart are
 * rendered from it, so running one benchmark replaces its own entry and
 * keeps the others'.
 */

export const recordSchema = z
  .object({
    result: benchResultSchema,
    machine: machineSchema,
    /** ISO 8601. */
    measuredAt: z.string().datetime(),
    wallSeconds: z.number().min(0),
    quick: z.boolean(),
  })
  .strict();

const storeSchema = z.object({ version: z.literal(1), records: z.array(recordSchema).max(100) }).strict();

export type BenchRecord = z.infer<typeof recordSchema>;

/** The stored records; none when the file does not exist. Throws when it exists but is not a store. */
export async function readRecords(file: string): Promise<BenchRecord[]> {
  if (!existsSync(file)) return [];
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, "utf8"));
  } catch (cause) {
    throw new Error(`${file} is not JSON; remove it to start over`, { cause });
  }
  const parsed = storeSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${file} is not a benchmark store (${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "?"}); remove it to start over`,
    );
  }
  return parsed.data.records;
}

/** `stored` with each of `fresh` replacing the record of its benchmark; the order of first appearance is kept. */
export function mergeRecords(stored: readonly BenchRecord[], fresh: readonly BenchRecord[]): BenchRecord[] {
  const byName = new Map<string, BenchRecord>();
  for (const record of [...stored, ...fresh]) byName.set(record.result.benchmark, record);
  return [...byName.values()];
}

/** Writes `text` to `file` atomically (a reader never sees half of it). */
export async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, "utf8");
  await rename(temporary, file);
}

export function serializeRecords(records: readonly BenchRecord[]): string {
  return `${JSON.stringify({ version: 1, records }, null, 2)}\n`;
}
