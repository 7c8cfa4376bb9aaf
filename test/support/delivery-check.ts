import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { ACKED_FILE, parseAcked } from "../../agent/outbox/outbox-files.js";
import { Journal } from "../../server/journal/index.js";
import { envelopeOf } from "../../server/journal/reader.js";
import type { EventEnvelope } from "../../shared/protocol.js";

export interface HostRecord {
  readonly name: string;
  /** What the host's outbox durably appended, in seq order. */
  readonly emitted: readonly EventEnvelope[];
  readonly outboxDir: string;
}

export interface DeliveryCheck {
  readonly journaled: number;
  readonly lost: number;
  readonly problems: string[];
}

/** The logical number an event of the delivery model carries ("event <k>" in its text). */
export function logicalIndex(envelope: EventEnvelope): number {
  const match = /"event (\d+)/.exec(JSON.stringify(envelope.event));
  if (match?.[1] === undefined)
    throw new Error(`seq ${String(envelope.seq)} of ${envelope.host} is not a model event`);
  return Number(match[1]);
}

/**
 * Compares the journal at `dbFile` (opened read-only) with what each host
 * emitted, and each outbox with what must be left of it:
 * - the journal holds, per host, exactly the emitted envelopes: seqs 1..n
 *   in commit order, each equal to the emitted one (no loss, no duplicate,
 *   no gap, emission order);
 * - logical events 1..`total` appear once each, in order (a restarted agent
 *   neither skipped nor repeated one);
 * - the outbox keeps only its acked mark, at the journal's last seq:
 *   everything acked was deleted (that the mark never ran ahead of the
 *   journal, runDeliveryModel checks after every task).
 * Every mismatch is one line naming the host and seq.
 */
export async function checkDelivery(input: {
  readonly dbFile: string;
  readonly runId: string;
  readonly total: number;
  readonly hosts: readonly HostRecord[];
}): Promise<DeliveryCheck> {
  const problems: string[] = [];
  let journaled = 0;
  let lost = 0;
  const journal = Journal.open(input.dbFile, { readonly: true });
  try {
    for (const host of input.hosts) {
      const rows = journal.events({ runId: input.runId, host: host.name }).map(envelopeOf);
      journaled += rows.length;
      rows.forEach((row, i) => {
        if (row.seq !== i + 1)
          problems.push(`${host.name}: journal row ${String(i + 1)} has seq ${String(row.seq)}`);
      });
      const seqs = new Set(rows.map((row) => row.seq));
      const missing = host.emitted.filter((envelope) => !seqs.has(envelope.seq));
      lost += missing.length;
      for (const envelope of missing.slice(0, 5))
        problems.push(`${host.name}: seq ${String(envelope.seq)} was emitted, never journaled`);
      if (rows.length > host.emitted.length) {
        problems.push(
          `${host.name}: journal has ${String(rows.length)} events, ${String(host.emitted.length)} emitted`,
        );
      }
      const differing = rows.filter((row, i) => !isDeepStrictEqual(row, host.emitted[i]));
      for (const row of differing.slice(0, 5))
        problems.push(`${host.name}: journaled seq ${String(row.seq)} differs from the emitted one`);
      const logical = rows.map(logicalIndex);
      const expected = Array.from({ length: input.total }, (_, i) => i + 1);
      if (!isDeepStrictEqual(logical, expected)) {
        const at = logical.findIndex((k, i) => k !== i + 1);
        problems.push(
          at === -1
            ? `${host.name}: only logical events 1..${String(logical.length)} of ${String(input.total)} journaled`
            : `${host.name}: seq ${String(at + 1)} carries logical event ${String(logical[at])}, not ${String(at + 1)}`,
        );
      }
      problems.push(...(await checkOutbox(host, rows.length)));
    }
  } finally {
    journal.close();
  }
  return { journaled, lost, problems };
}

async function checkOutbox(host: HostRecord, last: number): Promise<string[]> {
  const names = await readdir(host.outboxDir).catch(() => undefined);
  if (names === undefined) return [`${host.name}: no outbox at ${host.outboxDir}`];
  const problems = names
    .filter((name) => name !== ACKED_FILE)
    .slice(0, 5)
    .map((name) => `${host.name}: outbox still holds ${name}`);
  const file = path.join(host.outboxDir, ACKED_FILE);
  const text = await readFile(file, "utf8").catch(() => undefined);
  const mark = text === undefined ? "missing" : String(parseAcked(file, text));
  if (mark !== String(last))
    problems.push(`${host.name}: outbox acked mark is ${mark}, the journal ends at ${String(last)}`);
  return problems;
}
