import type Database from "better-sqlite3";
import { z } from "zod";
import { GroundcrewError, type ErrorCode } from "../../shared/errors.js";
import { eventEnvelopeSchema, type EventEnvelope } from "../../shared/protocol.js";
import { terminalSafe } from "../../shared/terminal-safe.js";
import { hostNameSchema, parseJsonColumn, parseRow, stepIdOf } from "./rows.js";
import type { AppendResult } from "./types.js";

/**
 * The append rule, per (run, host): events arrive with seq 1, 2, 3, ...
 *
 * - seq = last + 1: inserted;
 * - seq <= last with the same content (`at` and event): "duplicate", nothing
 *   written (an agent resending what was not yet acked);
 * - seq <= last with other content: JOURNAL_CONFLICT;
 * - seq > last + 1: JOURNAL_GAP;
 * - an unknown run: JOURNAL_UNKNOWN_RUN; a host not in the run: JOURNAL_UNKNOWN_HOST;
 * - an envelope that fails the protocol schema: JOURNAL_INVALID.
 *
 * So the journaled events of a (run, host) are always exactly 1..last, and an
 * ack of `last` covers a contiguous prefix. "Same content" compares the
 * schema-normalised event (key order and number spelling do not matter).
 * A finished run still takes events: late reports are kept, not dropped.
 *
 * `append` does not open a transaction itself; the journal wraps each call
 * (or a batch of calls) in one, so a throw leaves nothing behind. Each of
 * the rule's refusals (ENVELOPE_REFUSALS) is thrown before anything is
 * written, so a group may go on past a refused envelope in one transaction.
 */

/** The codes `append` throws for an envelope that breaks the rule above (never for a failing database). */
export const ENVELOPE_REFUSALS = [
  "JOURNAL_GAP",
  "JOURNAL_CONFLICT",
  "JOURNAL_UNKNOWN_RUN",
  "JOURNAL_UNKNOWN_HOST",
  "JOURNAL_INVALID",
] as const satisfies readonly ErrorCode[];

const lastSeqRow = z.object({ last: z.number().int().min(0) }).strict();
const storedContentRow = z.object({ at: z.string(), body: z.string() }).strict();
const hostsRow = z.object({ hosts: z.string() }).strict();
const hostListSchema = z.array(hostNameSchema);

export class EventWriter {
  private readonly hostsByRun = new Map<string, ReadonlySet<string>>();
  private readonly selectHosts: Database.Statement;
  private readonly selectLast: Database.Statement;
  private readonly selectContent: Database.Statement;
  private readonly insert: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly now: () => Date,
  ) {
    this.selectHosts = db.prepare("SELECT hosts FROM runs WHERE id = ?");
    this.selectLast = db.prepare(
      "SELECT coalesce(max(seq), 0) AS last FROM events WHERE run_id = ? AND host = ?",
    );
    this.selectContent = db.prepare("SELECT at, body FROM events WHERE run_id = ? AND host = ? AND seq = ?");
    this.insert = db.prepare(
      `INSERT INTO events (run_id, host, seq, at, kind, step_id, body, received_at)
       VALUES (@runId, @host, @seq, @at, @kind, @stepId, @body, @receivedAt)`,
    );
  }

  /** Highest journaled seq of (runId, host), 0 if none. */
  lastSeq(runId: string, host: string): number {
    return parseRow(lastSeqRow, this.selectLast.get(runId, host), "events").last;
  }

  /** The hosts of a run, or undefined if the run is unknown. Runs never change their hosts, so this is cached. */
  hostsOf(runId: string): ReadonlySet<string> | undefined {
    const cached = this.hostsByRun.get(runId);
    if (cached !== undefined) return cached;
    const row: unknown = this.selectHosts.get(runId);
    if (row === undefined) return undefined;
    const { hosts } = parseRow(hostsRow, row, "runs");
    const set = new Set(parseRow(hostListSchema, parseJsonColumn(hosts, "runs", "hosts"), "runs.hosts"));
    this.hostsByRun.set(runId, set);
    return set;
  }

  /** Applies the append rule to one envelope. Call inside a transaction. */
  append(input: EventEnvelope): AppendResult {
    const parsed = eventEnvelopeSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new GroundcrewError("JOURNAL_INVALID", "refusing to journal an invalid event envelope", {
        context: { issue: `${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "?"}` },
      });
    }
    const envelope = parsed.data;
    const { runId, host, seq } = envelope;
    const where = `event ${String(seq)} of run ${runId} from host ${terminalSafe(host)}`;
    const hosts = this.hostsOf(runId);
    if (hosts === undefined) {
      throw new GroundcrewError("JOURNAL_UNKNOWN_RUN", `${where}: the run is not in the journal`, {
        context: { runId, host, seq },
      });
    }
    if (!hosts.has(host)) {
      throw new GroundcrewError("JOURNAL_UNKNOWN_HOST", `${where}: the host does not take part in the run`, {
        context: { runId, host, seq },
      });
    }

    const body = JSON.stringify(envelope.event);
    const last = this.lastSeq(runId, host);
    if (seq <= last) {
      const stored = parseRow(storedContentRow, this.selectContent.get(runId, host, seq), "events");
      if (stored.at === envelope.at && stored.body === body) return "duplicate";
      throw new GroundcrewError(
        "JOURNAL_CONFLICT",
        `${where} differs from the event already journaled with that seq`,
        { context: { runId, host, seq, lastSeq: last } },
      );
    }
    if (seq !== last + 1) {
      throw new GroundcrewError(
        "JOURNAL_GAP",
        `${where} does not follow the last journaled event ${String(last)}; expected seq ${String(last + 1)}`,
        { context: { runId, host, seq, lastSeq: last, expected: last + 1 } },
      );
    }
    this.insert.run({
      runId,
      host,
      seq,
      at: envelope.at,
      kind: envelope.event.kind,
      stepId: stepIdOf(envelope.event),
      body,
      receivedAt: this.now().toISOString(),
    });
    return "inserted";
  }
}
