import type Database from "better-sqlite3";
import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import type { EventEnvelope } from "../../shared/protocol.js";
import { terminalSafe } from "../../shared/terminal-safe.js";
import { foldHost, STATE_KINDS, type HostFold, type LastEvent, type LostMark } from "./folds.js";
import { EVENT_COLUMNS, parseRow, toRunSummary, toStoredEvent } from "./rows.js";
import type { EventQuery, HostStatus, RunSummary, StepStatus, StoredEvent } from "./types.js";

/**
 * The read side of the journal. Each method reads one consistent snapshot
 * (SQLite statement) at a time; a writer in another process may commit
 * between two calls, never inside one. Unknown runs are JOURNAL_UNKNOWN_RUN,
 * hosts that are not part of a run JOURNAL_UNKNOWN_HOST.
 */

const lastEventRow = z.object({ seq: z.number().int().min(1), at: z.string() }).strict();
const lostRow = z
  .object({
    host: z.string(),
    lost_at: z.string(),
    reason: z.string(),
    lost_after_seq: z.number().int().min(0),
  })
  .strict();

const RUN_COLUMNS = "id, action, started_at, finished_at, outcome, inventory, hosts";
const KIND_LIST = STATE_KINDS.map((kind) => `'${kind}'`).join(", ");

/** The envelope of a stored event, without the journal's own fields, in the protocol's key order. */
export function envelopeOf(event: StoredEvent): EventEnvelope {
  return { runId: event.runId, host: event.host, seq: event.seq, at: event.at, event: event.event };
}

export class JournalReader {
  private readonly selectRuns: Database.Statement;
  private readonly selectLatestRun: Database.Statement;
  private readonly selectRun: Database.Statement;
  private readonly selectStateEvents: Database.Statement;
  private readonly selectLastEvent: Database.Statement;
  private readonly selectLost: Database.Statement;
  private readonly selectExport: Database.Statement;
  private readonly eventQueries = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {
    this.selectRuns = db.prepare(`SELECT ${RUN_COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC`);
    this.selectLatestRun = db.prepare(
      `SELECT ${RUN_COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1`,
    );
    this.selectRun = db.prepare(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`);
    this.selectStateEvents = db.prepare(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE run_id = ? AND kind IN (${KIND_LIST}) ORDER BY host, seq`,
    );
    this.selectLastEvent = db.prepare(
      "SELECT seq, at FROM events WHERE run_id = ? AND host = ? ORDER BY seq DESC LIMIT 1",
    );
    this.selectLost = db.prepare(
      "SELECT host, lost_at, reason, lost_after_seq FROM lost_hosts WHERE run_id = ?",
    );
    this.selectExport = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE run_id = ? ORDER BY host, seq`);
  }

  /** Every run, newest first. */
  runs(): RunSummary[] {
    return this.selectRuns.all().map(toRunSummary);
  }

  latestRun(): RunSummary | undefined {
    const row: unknown = this.selectLatestRun.get();
    return row === undefined ? undefined : toRunSummary(row);
  }

  run(runId: string): RunSummary | undefined {
    const row: unknown = this.selectRun.get(runId);
    return row === undefined ? undefined : toRunSummary(row);
  }

  /** The run, or JOURNAL_UNKNOWN_RUN. */
  requireRun(runId: string): RunSummary {
    const run = this.run(runId);
    if (run === undefined) {
      throw new GroundcrewError("JOURNAL_UNKNOWN_RUN", `run ${terminalSafe(runId)} is not in the journal`, {
        context: { runId },
      });
    }
    return run;
  }

  private requireHost(run: RunSummary, host: string): void {
    if (!run.hosts.includes(host)) {
      throw new GroundcrewError(
        "JOURNAL_UNKNOWN_HOST",
        `host ${terminalSafe(host)} does not take part in run ${run.id}`,
        { context: { runId: run.id, host } },
      );
    }
  }

  /** Folds every host of the run (or only `host`), in the run's host order. */
  private fold(runId: string, host?: string): HostFold[] {
    const run = this.requireRun(runId);
    if (host !== undefined) this.requireHost(run, host);
    const hosts = host === undefined ? run.hosts : [host];

    const eventsByHost = new Map<string, StoredEvent[]>();
    for (const row of this.selectStateEvents.iterate(runId)) {
      const event = toStoredEvent(row);
      const list = eventsByHost.get(event.host);
      if (list === undefined) eventsByHost.set(event.host, [event]);
      else list.push(event);
    }
    const lostByHost = new Map<string, LostMark>();
    for (const row of this.selectLost.all(runId)) {
      const lost = parseRow(lostRow, row, "lost_hosts");
      lostByHost.set(lost.host, { at: lost.lost_at, reason: lost.reason, afterSeq: lost.lost_after_seq });
    }

    return hosts.map((name) => {
      const lastRow: unknown = this.selectLastEvent.get(runId, name);
      const last: LastEvent | null = lastRow === undefined ? null : parseRow(lastEventRow, lastRow, "events");
      return foldHost(runId, name, eventsByHost.get(name) ?? [], last, lostByHost.get(name) ?? null);
    });
  }

  hostStatus(runId: string): HostStatus[] {
    return this.fold(runId).map((fold) => fold.host);
  }

  stepStatus(runId: string, host?: string): StepStatus[] {
    return this.fold(runId, host).flatMap((fold) => fold.steps);
  }

  /** Events of a run in journal (commit) order, filtered; see EventQuery. */
  events(query: EventQuery): StoredEvent[] {
    const run = this.requireRun(query.runId);
    if (query.host !== undefined) this.requireHost(run, query.host);
    const filters = ["run_id = @runId"];
    if (query.host !== undefined) filters.push("host = @host");
    if (query.stepId !== undefined) filters.push("step_id = @stepId");
    if (query.afterRowId !== undefined) filters.push("id > @afterRowId");
    const sql = `SELECT ${EVENT_COLUMNS} FROM events WHERE ${filters.join(" AND ")} ORDER BY id LIMIT @limit`;
    let statement = this.eventQueries.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.eventQueries.set(sql, statement);
    }
    const params: Record<string, string | number> = { runId: query.runId, limit: query.limit ?? -1 };
    if (query.host !== undefined) params["host"] = query.host;
    if (query.stepId !== undefined) params["stepId"] = query.stepId;
    if (query.afterRowId !== undefined) params["afterRowId"] = query.afterRowId;
    return statement.all(params).map(toStoredEvent);
  }

  /**
   * Streams the run's envelopes as JSON lines, each ending in "\n", ordered by
   * (host, seq). Returns how many were written. `write` must not call back
   * into the journal (the export statement is still reading).
   */
  exportRun(runId: string, write: (line: string) => void): number {
    this.requireRun(runId);
    let count = 0;
    for (const row of this.selectExport.iterate(runId)) {
      write(`${JSON.stringify(envelopeOf(toStoredEvent(row)))}\n`);
      count += 1;
    }
    return count;
  }
}
