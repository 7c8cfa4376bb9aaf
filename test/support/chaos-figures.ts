import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { EventEnvelope } from "../../shared/protocol.js";

/**
 * The figures of one chaos scenario, counted twice and independently: on the
 * hosts (each agent's outbox for the run: its acked mark and the event files
 * still waiting) and in the provisioner's journal. The lab chaos tests write
 * one record per scenario; `npm run chaos` (scripts/chaos.mjs) turns them into
 * docs/reliability.md.
 */

const FINAL_KINDS = new Set(["step.succeeded", "step.skipped", "step.failed"]);

/** One agent's outbox for one run, as read on the host. */
export interface OutboxCount {
  /** acked.json's ackedSeq (0 when there is none). */
  readonly ackedSeq: number;
  /** Seqs of the event files still in the outbox (emitted, not yet acknowledged). */
  readonly waiting: readonly number[];
}

export const hostFiguresSchema = z
  .object({
    host: z.string(),
    /** Events the agent appended to its outbox: the highest seq it assigned (seqs are gapless). */
    emitted: z.number().int().min(0),
    /** Journal rows of this host in the run. */
    journaled: z.number().int().min(0),
    /** A (host, seq) journaled twice, a step with more than one final result, more than one run.finished. */
    duplicated: z.number().int().min(0),
    /** Emitted seqs missing from the journal, and seqs the journal holds that the agent never emitted. */
    lost: z.number().int().min(0),
    /** Event files left in the outbox at the end (unacknowledged). */
    waiting: z.number().int().min(0),
  })
  .strict();
export type HostFigures = z.infer<typeof hostFiguresSchema>;

export const scenarioRecordSchema = z
  .object({
    kind: z.literal("lab"),
    /** Orders the rows: "1-provisioner-kill", ... */
    id: z.string().regex(/^[a-z0-9-]+$/),
    scenario: z.string(),
    /** What happened, in words, with the measured facts (times, counts). */
    happened: z.string(),
    /** Numbers of the promises (../shared/reference/reliability.md, "Our promises") this row proves. */
    promises: z.array(z.number().int().min(1)),
    /** Numbers of the faults ("Faults and hostile input to survive") it stages. */
    faults: z.array(z.number().int().min(1)),
    runId: z.string(),
    seconds: z.number().min(0),
    hosts: z.array(hostFiguresSchema),
  })
  .strict();
export type ScenarioRecord = z.infer<typeof scenarioRecordSchema>;

export const modelRecordSchema = z
  .object({
    kind: z.literal("model"),
    id: z.string().regex(/^[a-z0-9-]+$/),
    seed: z.number().int(),
    hosts: z.number().int().min(1),
    emitted: z.number().int().min(0),
    journaled: z.number().int().min(0),
    /** Event frames the journal recognised as already committed. */
    deduped: z.number().int().min(0),
    lost: z.number().int().min(0),
    /** formatFigures' line. */
    line: z.string(),
    seconds: z.number().min(0),
  })
  .strict();
export type ModelRecord = z.infer<typeof modelRecordSchema>;

export const chaosRecordSchema = z.discriminatedUnion("kind", [scenarioRecordSchema, modelRecordSchema]);
export type ChaosRecord = z.infer<typeof chaosRecordSchema>;

/** Counts one host's figures from its outbox and the run's journal rows. */
export function hostFigures(
  host: string,
  outbox: OutboxCount,
  journal: readonly EventEnvelope[],
): HostFigures {
  const mine = journal.filter((envelope) => envelope.host === host);
  const emitted = Math.max(outbox.ackedSeq, ...outbox.waiting);
  const seqs = new Map<number, number>();
  for (const envelope of mine) seqs.set(envelope.seq, (seqs.get(envelope.seq) ?? 0) + 1);
  const finals = new Map<string, number>();
  let finished = 0;
  for (const { event } of mine) {
    if (FINAL_KINDS.has(event.kind) && "stepId" in event)
      finals.set(event.stepId, (finals.get(event.stepId) ?? 0) + 1);
    if (event.kind === "run.finished") finished += 1;
  }
  const excess = (counts: Iterable<number>): number =>
    [...counts].reduce((sum, count) => sum + Math.max(0, count - 1), 0);
  let missing = 0;
  for (let seq = 1; seq <= emitted; seq += 1) if (!seqs.has(seq)) missing += 1;
  const unknown = [...seqs.keys()].filter((seq) => seq > emitted).length;
  return {
    host,
    emitted,
    journaled: mine.length,
    duplicated: excess(seqs.values()) + excess(finals.values()) + Math.max(0, finished - 1),
    lost: missing + unknown,
    waiting: outbox.waiting.length,
  };
}

/** Parses what `ls` and `cat acked.json` printed for an outbox directory (see ChaosLab.outbox). */
export function parseOutboxListing(acked: string, names: readonly string[]): OutboxCount {
  const trimmed = acked.trim();
  const ackedSeq =
    trimmed === "" ? 0 : z.object({ ackedSeq: z.number().int().min(0) }).parse(JSON.parse(trimmed)).ackedSeq;
  const waiting = names.flatMap((name) => {
    const match = /^(\d{12})\.json$/.exec(name);
    return match?.[1] === undefined ? [] : [Number(match[1])];
  });
  return { ackedSeq, waiting };
}

/** The directory the chaos records go to (CHAOS_FIGURES_DIR), or undefined when the suite runs on its own. */
export function figuresDir(): string | undefined {
  const dir = process.env["CHAOS_FIGURES_DIR"];
  return dir === undefined || dir === "" ? undefined : dir;
}

/** Writes one record as `<id>.json` under CHAOS_FIGURES_DIR (nothing when it is unset). */
export async function writeRecord(record: ChaosRecord): Promise<void> {
  const dir = figuresDir();
  if (dir === undefined) return;
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, `${record.id}.json`),
    `${JSON.stringify(chaosRecordSchema.parse(record))}\n`,
  );
}

/** Every record under `dir`, ordered by id. */
export async function readRecords(dir: string): Promise<ChaosRecord[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith(".json")).sort();
  const records: ChaosRecord[] = [];
  for (const name of names) {
    records.push(chaosRecordSchema.parse(JSON.parse(await readFile(path.join(dir, name), "utf8"))));
  }
  return records;
}
