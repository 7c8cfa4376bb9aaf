import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import { eventEnvelopeSchema, type AgentEvent } from "../../shared/protocol.js";
import type { RunSummary, StoredEvent } from "./types.js";

/**
 * Every row read from SQLite goes through a schema here before the rest of the
 * journal sees it; a row that does not match (a hand-edited or damaged file)
 * is a JOURNAL_CORRUPT error, never a wrongly-typed value.
 */

export const runIdSchema = eventEnvelopeSchema.shape.runId;
export const hostNameSchema = eventEnvelopeSchema.shape.host;

export function parseRow<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, row: unknown, table: string): T {
  const parsed = schema.safeParse(row);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new GroundcrewError("JOURNAL_CORRUPT", `the journal holds an invalid ${table} row`, {
    context: {
      table,
      issue: `${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "?"}`,
    },
  });
}

/** Parses a JSON column; invalid JSON is JOURNAL_CORRUPT. */
export function parseJsonColumn(text: string, table: string, column: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new GroundcrewError("JOURNAL_CORRUPT", `the journal holds invalid JSON in ${table}.${column}`, {
      context: { table, column },
    });
  }
}

export const runRowSchema = z
  .object({
    id: z.string(),
    action: z.enum(["apply", "undo"]),
    started_at: z.string(),
    finished_at: z.string().nullable(),
    outcome: z.enum(["succeeded", "failed", "interrupted"]).nullable(),
    inventory: z.string(),
    hosts: z.string(),
  })
  .strict();

const hostListSchema = z.array(hostNameSchema);

export function toRunSummary(row: unknown): RunSummary {
  const run = parseRow(runRowSchema, row, "runs");
  return {
    id: run.id,
    action: run.action,
    startedAt: run.started_at,
    finishedAt: run.finished_at,
    outcome: run.outcome,
    inventory: run.inventory,
    hosts: parseRow(hostListSchema, parseJsonColumn(run.hosts, "runs", "hosts"), "runs.hosts"),
  };
}

export const eventRowSchema = z
  .object({
    id: z.number().int().min(1),
    run_id: z.string(),
    host: z.string(),
    seq: z.number().int(),
    at: z.string(),
    kind: z.string(),
    step_id: z.string().nullable(),
    body: z.string(),
    received_at: z.string(),
  })
  .strict();

/** The columns `toStoredEvent` expects, in a SELECT list. */
export const EVENT_COLUMNS = "id, run_id, host, seq, at, kind, step_id, body, received_at";

/** The step an event is about, if any (what the step_id column holds). */
export function stepIdOf(event: AgentEvent): string | null {
  return "stepId" in event ? event.stepId : null;
}

/**
 * Rebuilds a stored event and validates it as a whole envelope; the kind and
 * step_id columns must agree with the body they were derived from.
 */
export function toStoredEvent(row: unknown): StoredEvent {
  const stored = parseRow(eventRowSchema, row, "events");
  const envelope = parseRow(
    eventEnvelopeSchema,
    {
      runId: stored.run_id,
      host: stored.host,
      seq: stored.seq,
      at: stored.at,
      event: parseJsonColumn(stored.body, "events", "body"),
    },
    "events",
  );
  if (envelope.event.kind !== stored.kind || stepIdOf(envelope.event) !== stored.step_id) {
    throw new GroundcrewError(
      "JOURNAL_CORRUPT",
      "the journal holds an event whose columns disagree with its body",
      {
        context: { table: "events", rowId: stored.id },
      },
    );
  }
  return { ...envelope, rowId: stored.id, receivedAt: stored.received_at };
}
