import path from "node:path";
import type Database from "better-sqlite3";
import { z } from "zod";
import { GroundcrewError, isGroundcrewError } from "../../shared/errors.js";
import type { EventEnvelope } from "../../shared/protocol.js";
import { terminalSafe } from "../../shared/terminal-safe.js";
import { ENVELOPE_REFUSALS, EventWriter } from "./event-writer.js";
import type { JournalLock } from "./lock.js";
import { openDatabase } from "./open-database.js";
import { schemaVersion } from "./migrations.js";
import { JournalReader } from "./reader.js";
import { hostNameSchema, parseRow, runIdSchema } from "./rows.js";
import { journalFailure } from "./sqlite-errors.js";
import type {
  AppendResult,
  EventQuery,
  GroupAppendResult,
  HostStatus,
  JournalOpenOptions,
  JournalSettings,
  NewRun,
  RunOutcome,
  RunSummary,
  StepStatus,
  StoredEvent,
} from "./types.js";

/**
 * The provisioner's journal: runs, and every event the agents report, in one
 * SQLite file. One process writes (it holds the lock beside the file); any
 * number read, even while it writes.
 *
 * Every write method is one committed transaction when it returns: the
 * caller may ack what it wrote. A write that throws changed nothing.
 * Write failures of SQLite (disk full, I/O) are JOURNAL_WRITE_FAILED,
 * retryable, with `context.sqliteCode`.
 *
 * Events are append-only; runs and lost-host marks are metadata that
 * `finishRun` / `markHostLost` update.
 */

const newRunSchema = z
  .object({
    id: runIdSchema,
    action: z.enum(["apply", "undo"]),
    inventory: z.string().max(4096),
    hosts: z
      .array(hostNameSchema)
      .max(10_000)
      .refine((hosts) => new Set(hosts).size === hosts.length, "host names must be unique"),
  })
  .strict();
const outcomeSchema = z.enum(["succeeded", "failed", "interrupted"]);
const reasonSchema = z.string().max(8000);
const rowIdSchema = z.number().int().min(0);
const limitSchema = z.number().int().min(1);
/** PRAGMA synchronous levels, by number. */
const synchronousNames = ["off", "normal", "full", "extra"] as const;

function invalid(what: string, error: z.ZodError): GroundcrewError {
  const issue = error.issues[0];
  return new GroundcrewError("JOURNAL_INVALID", `invalid ${what}`, {
    context: { issue: `${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "?"}` },
  });
}

function validate<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalid(what, parsed.error);
  return parsed.data;
}

/** An error `EventWriter.append` throws for the envelope itself (nothing was written for it). */
function isEnvelopeRefusal(error: unknown): error is GroundcrewError {
  return isGroundcrewError(error) && (ENVELOPE_REFUSALS as readonly string[]).includes(error.code);
}

export class Journal {
  private closed = false;
  private readonly reader: JournalReader;
  private readonly writer: EventWriter;
  private readonly insertRun: Database.Statement;
  private readonly updateRunFinished: Database.Statement;
  private readonly upsertLost: Database.Statement;

  private constructor(
    /** Absolute path of the database file. */
    readonly path: string,
    /** True for a read-only open: every write method throws JOURNAL_READ_ONLY. */
    readonly readonly: boolean,
    private readonly db: Database.Database,
    private readonly lock: JournalLock | null,
    private readonly now: () => Date,
  ) {
    this.reader = new JournalReader(db);
    this.writer = new EventWriter(db, now);
    this.insertRun = db.prepare(
      `INSERT INTO runs (id, action, started_at, finished_at, outcome, inventory, hosts)
       VALUES (@id, @action, @startedAt, NULL, NULL, @inventory, @hosts)`,
    );
    this.updateRunFinished = db.prepare(
      "UPDATE runs SET finished_at = @finishedAt, outcome = @outcome WHERE id = @id AND finished_at IS NULL",
    );
    this.upsertLost = db.prepare(
      `INSERT INTO lost_hosts (run_id, host, lost_at, reason, lost_after_seq)
       VALUES (@runId, @host, @lostAt, @reason, @afterSeq)
       ON CONFLICT (run_id, host) DO UPDATE SET
         lost_at = excluded.lost_at, reason = excluded.reason, lost_after_seq = excluded.lost_after_seq`,
    );
  }

  /**
   * Opens (creating and migrating if needed) the journal at `file`. Throws
   * GroundcrewError: JOURNAL_IN_USE (another process writes it),
   * JOURNAL_SCHEMA_TOO_NEW, JOURNAL_NOT_FOUND / JOURNAL_SCHEMA_OUTDATED
   * (read-only), JOURNAL_OPEN_FAILED.
   */
  static open(file: string, options: JournalOpenOptions = {}): Journal {
    const absolute = path.resolve(file);
    const readonly = options.readonly ?? false;
    const now = options.clock ?? (() => new Date());
    const { db, lock } = openDatabase(absolute, {
      readonly,
      now,
      ...(options.maxSizeBytes === undefined ? {} : { maxSizeBytes: options.maxSizeBytes }),
    });
    try {
      return new Journal(absolute, readonly, db, lock, now);
    } catch (error) {
      db.close();
      lock?.release();
      throw journalFailure(error, absolute, "open", "JOURNAL_OPEN_FAILED");
    }
  }

  /** Closes the database and releases the lock. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db.close();
    } finally {
      this.lock?.release();
    }
  }

  private ensureOpen(): void {
    if (this.closed) {
      throw new GroundcrewError("JOURNAL_CLOSED", `the journal at ${this.path} is closed`, {
        context: { path: this.path },
      });
    }
  }

  /** Runs `work` as one IMMEDIATE transaction, mapping SQLite failures to JOURNAL_WRITE_FAILED. */
  private write<T>(operation: string, work: () => T): T {
    this.ensureOpen();
    if (this.readonly) {
      throw new GroundcrewError("JOURNAL_READ_ONLY", `the journal at ${this.path} was opened read-only`, {
        context: { path: this.path, operation },
      });
    }
    try {
      return this.db.transaction(work).immediate();
    } catch (error) {
      throw journalFailure(error, this.path, operation);
    }
  }

  private read<T>(work: () => T): T {
    this.ensureOpen();
    try {
      return work();
    } catch (error) {
      throw journalFailure(error, this.path, "read", "JOURNAL_READ_FAILED");
    }
  }

  // ---- writes -----------------------------------------------------------------------------

  /** Records a new run (started now). JOURNAL_RUN_EXISTS if the id is taken, JOURNAL_INVALID for bad input. */
  startRun(run: NewRun): void {
    const valid = validate(newRunSchema, run, "run");
    this.write("startRun", () => {
      if (this.reader.run(valid.id) !== undefined) {
        throw new GroundcrewError("JOURNAL_RUN_EXISTS", `run ${valid.id} is already in the journal`, {
          context: { runId: valid.id },
        });
      }
      this.insertRun.run({
        id: valid.id,
        action: valid.action,
        startedAt: this.now().toISOString(),
        inventory: valid.inventory,
        hosts: JSON.stringify(valid.hosts),
      });
    });
  }

  /**
   * Journals one event, committed when this returns (see EventWriter for the
   * rule): "inserted", or "duplicate" for a resend of an already stored event.
   * Throws JOURNAL_GAP / JOURNAL_CONFLICT / JOURNAL_UNKNOWN_RUN /
   * JOURNAL_UNKNOWN_HOST / JOURNAL_INVALID / JOURNAL_WRITE_FAILED.
   */
  append(envelope: EventEnvelope): AppendResult {
    return this.write("append", () => this.writer.append(envelope));
  }

  /**
   * Journals several events in one transaction, in the given order, with the
   * same rules as `append`: all of them, or (on any error) none.
   */
  appendBatch(envelopes: readonly EventEnvelope[]): AppendResult[] {
    return this.write("appendBatch", () => envelopes.map((envelope) => this.writer.append(envelope)));
  }

  /**
   * Journals a group of events in one transaction, in the given order, each
   * under the rule of `append` as if appended alone right after the ones
   * before it. An envelope that breaks the rule is `refused` with the error
   * `append` would have thrown (ENVELOPE_REFUSALS) and the later envelopes
   * of its run and host are "skipped", without failing the others. Any other
   * failure (JOURNAL_WRITE_FAILED, JOURNAL_CLOSED, ...) throws and commits
   * nothing of the group. When it returns, every "inserted" is committed.
   */
  appendGroup(envelopes: readonly EventEnvelope[]): GroupAppendResult[] {
    if (envelopes.length === 0) return [];
    return this.write("appendGroup", () => {
      const refused = new Set<string>();
      return envelopes.map((envelope): GroupAppendResult => {
        const key = JSON.stringify([envelope.runId, envelope.host]);
        if (refused.has(key)) return "skipped";
        try {
          return this.writer.append(envelope);
        } catch (error) {
          if (!isEnvelopeRefusal(error)) throw error;
          refused.add(key);
          return { refused: error };
        }
      });
    });
  }

  /**
   * Records that the provisioner gave up on a host (connection lost, timed
   * out). The host shows as "lost" until it reports again. Marking again
   * replaces the earlier mark.
   */
  markHostLost(runId: string, host: string, reason: string): void {
    const validReason = validate(reasonSchema, reason, "reason");
    this.write("markHostLost", () => {
      const run = this.reader.requireRun(runId);
      if (!run.hosts.includes(host)) {
        throw new GroundcrewError(
          "JOURNAL_UNKNOWN_HOST",
          `host ${terminalSafe(host)} does not take part in run ${run.id}`,
          { context: { runId, host } },
        );
      }
      this.upsertLost.run({
        runId,
        host,
        lostAt: this.now().toISOString(),
        reason: validReason,
        afterSeq: this.writer.lastSeq(runId, host),
      });
    });
  }

  /**
   * Records how a run ended. Finishing it again with the same outcome does
   * nothing; with another outcome it is JOURNAL_CONFLICT.
   */
  finishRun(runId: string, outcome: RunOutcome): void {
    const validOutcome = validate(outcomeSchema, outcome, "outcome");
    this.write("finishRun", () => {
      const run = this.reader.requireRun(runId);
      if (run.outcome === validOutcome) return;
      if (run.outcome !== null) {
        throw new GroundcrewError(
          "JOURNAL_CONFLICT",
          `run ${runId} already finished as ${run.outcome}, not ${validOutcome}`,
          { context: { runId, outcome: run.outcome, requested: validOutcome } },
        );
      }
      this.updateRunFinished.run({ id: runId, outcome: validOutcome, finishedAt: this.now().toISOString() });
    });
  }

  // ---- reads ------------------------------------------------------------------------------

  /** The settings SQLite reports for this journal's own connection. */
  settings(): JournalSettings {
    return this.read(() => {
      const pragma = <T>(name: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>): T =>
        parseRow(schema, this.db.pragma(name, { simple: true }), `pragma ${name}`);
      const synchronous = pragma("synchronous", z.number().int().min(0).max(3));
      return {
        journalMode: pragma("journal_mode", z.string()),
        synchronous: synchronousNames[synchronous] ?? "extra",
        foreignKeys: pragma("foreign_keys", z.number().int()) === 1,
        busyTimeoutMs: pragma("busy_timeout", z.number().int()),
        schemaVersion: schemaVersion(this.db),
      };
    });
  }

  /** Highest journaled seq of (runId, host); 0 if none (also for an unknown run). */
  lastSeq(runId: string, host: string): number {
    return this.read(() => this.writer.lastSeq(runId, host));
  }

  /** All runs, newest first. */
  runs(): RunSummary[] {
    return this.read(() => this.reader.runs());
  }

  latestRun(): RunSummary | undefined {
    return this.read(() => this.reader.latestRun());
  }

  run(runId: string): RunSummary | undefined {
    return this.read(() => this.reader.run(runId));
  }

  /** One status per host of the run, in the run's host order. */
  hostStatus(runId: string): HostStatus[] {
    return this.read(() => this.reader.hostStatus(runId));
  }

  /** Step statuses of the run (or of one host), by host in run order, then by first appearance. */
  stepStatus(runId: string, host?: string): StepStatus[] {
    return this.read(() => this.reader.stepStatus(runId, host));
  }

  /** Events in journal order; poll with `afterRowId` = the last seen `rowId` to follow. */
  events(query: EventQuery): StoredEvent[] {
    if (query.afterRowId !== undefined) validate(rowIdSchema, query.afterRowId, "afterRowId");
    if (query.limit !== undefined) validate(limitSchema, query.limit, "limit");
    return this.read(() => this.reader.events(query));
  }

  /** Writes the run's envelopes as JSON lines ("\n"-terminated) in (host, seq) order; returns the count. */
  exportRun(runId: string, write: (line: string) => void): number {
    return this.read(() => this.reader.exportRun(runId, write));
  }
}
