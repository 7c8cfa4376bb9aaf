import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Journal } from "../../server/journal/index.js";
import type { EventEnvelope } from "../../shared/protocol.js";
import { fdatasyncCost, filesystemOf } from "./ingest/disk.js";
import { benchEnvelope } from "./ingest/events.js";
import { describeCheck, IngestSession, serverCpu, type Phase } from "./ingest/harness.js";
import { describeProblems } from "./ingest/problems.js";
import type { Streamed } from "./ingest/agents-protocol.js";
import type { BenchOptions, BenchResult, Row } from "./report/types.js";

/**
 * Journal ingest: events per second into the real journal (WAL,
 * synchronous=FULL) and how long an agent waits for its ack.
 *
 * - the disk's own cost: one fdatasync after a 4 KiB append;
 * - the journal alone (no network): one transaction per event (a server
 *   that gets one frame per event-loop turn), against Journal.appendBatch
 *   of 100 per transaction;
 * - the whole path: real agent clients over mutual-TLS WebSockets on
 *   loopback to the real AgentServer (the frames of one event-loop turn,
 *   from every agent, committed as one group; one ack per agent per group),
 *   1 agent one event at a time, 1 agent streaming, 100 agents streaming at
 *   once.
 */

interface Sizes {
  readonly syncs: number;
  readonly directPerEvent: number;
  readonly directBatched: number;
  readonly batch: number;
  readonly warmup: number;
  readonly serial: number;
  readonly streamed: number;
  readonly window: number;
  readonly agents: number;
  readonly perAgent: number;
}

const FULL: Sizes = {
  syncs: 500,
  directPerEvent: 3000,
  directBatched: 30_000,
  batch: 100,
  warmup: 100,
  serial: 1000,
  streamed: 5000,
  window: 64,
  agents: 100,
  perAgent: 200,
};

const QUICK: Sizes = {
  syncs: 100,
  directPerEvent: 300,
  directBatched: 3000,
  batch: 100,
  warmup: 20,
  serial: 200,
  streamed: 500,
  window: 64,
  agents: 100,
  perAgent: 10,
};

const STREAM_TIMEOUT_MS = 600_000;
const CONNECT_TIMEOUT_MS = 120_000;
const DIRECT_RUN = "bench-direct";

/** Events per second of `count` events written by `write`, envelopes made beforehand. */
function timed(count: number, write: () => void): number {
  const started = process.hrtime.bigint();
  write();
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

function envelopes(host: string, count: number): EventEnvelope[] {
  return Array.from({ length: count }, (_, i) => benchEnvelope(DIRECT_RUN, host, i + 1));
}

/** The journal alone: per-event transactions against batched ones, in one journal, after a warm-up. */
function direct(dir: string, sizes: Sizes): { perEvent: number; batched: number } {
  const journal = Journal.open(path.join(dir, "direct", "journal.db"));
  try {
    journal.startRun({
      id: DIRECT_RUN,
      action: "apply",
      inventory: "bench",
      hosts: ["warm", "single", "batched"],
    });
    for (const envelope of envelopes("warm", sizes.warmup)) journal.append(envelope);
    const single = envelopes("single", sizes.directPerEvent);
    const perEvent = timed(single.length, () => {
      for (const envelope of single) journal.append(envelope);
    });
    const batches: EventEnvelope[][] = [];
    const all = envelopes("batched", sizes.directBatched);
    for (let i = 0; i < all.length; i += sizes.batch) batches.push(all.slice(i, i + sizes.batch));
    const batched = timed(all.length, () => {
      for (const batch of batches) journal.appendBatch(batch);
    });
    return { perEvent, batched };
  } finally {
    journal.close();
  }
}

interface WireCase {
  readonly label: string;
  readonly phase: Phase<Streamed>;
}

function wireRow(wire: WireCase, ratios: Row["ratios"]): Row {
  const { agents } = wire.phase;
  const cpu = serverCpu(wire.phase);
  return {
    case: wire.label,
    values: [
      { name: "ingest", value: agents.acked / agents.seconds, unit: "events/s", chart: true },
      { name: "ack p50", value: agents.ackMs.p50, unit: "ms" },
      { name: "ack p99", value: agents.ackMs.p99, unit: "ms", chart: true },
      { name: "server CPU/event", value: (1000 * cpu.seconds) / Math.max(1, agents.acked), unit: "ms" },
      { name: "server CPU", value: cpu.percent, unit: "%" },
    ],
    ratios,
  };
}

function rate(wire: WireCase): number {
  return wire.phase.agents.acked / wire.phase.agents.seconds;
}

/** One provisioner, `agents` agents: a warm-up, then each `streams` entry as a measured phase. */
async function overWire(
  dir: string,
  agents: number,
  warmup: number,
  streams: readonly { label: string; events: number; window: number }[],
  notes: string[],
): Promise<WireCase[]> {
  const session = await IngestSession.start(dir, agents);
  const cases: WireCase[] = [];
  try {
    const connected = await session.connect(CONNECT_TIMEOUT_MS);
    if (connected.agents.welcomed !== agents) {
      throw new Error(`only ${connected.agents.welcomed} of ${agents} agents were welcomed`);
    }
    await session.stream(warmup, 8, STREAM_TIMEOUT_MS);
    for (const stream of streams) {
      const phase = await session.stream(stream.events, stream.window, STREAM_TIMEOUT_MS);
      if (phase.agents.acked !== phase.agents.expected) {
        throw new Error(
          `${stream.label}: ${phase.agents.acked} of ${phase.agents.expected} events acked in time`,
        );
      }
      cases.push({ label: stream.label, phase });
      notes.push(...describeProblems(stream.label, phase));
    }
  } catch (error) {
    session.kill();
    throw error;
  }
  const check = await session.stop();
  notes.push(`${agents === 1 ? "1 agent" : `${agents} agents`}: ${describeCheck(check)}.`);
  return cases;
}

export async function journal(options: BenchOptions): Promise<BenchResult> {
  const sizes = options.quick ? QUICK : FULL;
  const work = await mkdtemp(path.join(os.tmpdir(), "groundcrew-bench-journal-"));
  const notes: string[] = [];
  try {
    const sync = fdatasyncCost(work, sizes.syncs);
    const local = direct(work, sizes);
    const [serial, streamed] = await overWire(
      path.join(work, "one"),
      1,
      sizes.warmup,
      [
        { label: "1 agent, 1 event in flight", events: sizes.serial, window: 1 },
        { label: `1 agent, ${sizes.window} in flight`, events: sizes.streamed, window: sizes.window },
      ],
      notes,
    );
    const [many] = await overWire(
      path.join(work, "many"),
      sizes.agents,
      Math.max(1, Math.round(sizes.warmup / 10)),
      [
        {
          label: `${sizes.agents} agents, ${sizes.window} in flight each`,
          events: sizes.perAgent,
          window: sizes.window,
        },
      ],
      notes,
    );
    if (serial === undefined || streamed === undefined || many === undefined)
      throw new Error("a phase is missing");
    const commitMs = 1000 / local.perEvent;
    const rows: Row[] = [
      {
        case: "fdatasync of a 4 KiB overwrite (the disk alone)",
        values: [
          { name: "mean", value: sync.mean, unit: "ms" },
          { name: "p50", value: sync.p50, unit: "ms" },
          { name: "p99", value: sync.p99, unit: "ms" },
        ],
        ratios: [],
      },
      {
        case: "journal alone, 1 transaction per event",
        values: [
          { name: "ingest", value: local.perEvent, unit: "events/s", chart: true },
          { name: "per commit", value: commitMs, unit: "ms" },
        ],
        ratios: [{ name: "commit / fdatasync (means)", value: commitMs / sync.mean }],
      },
      {
        case: `journal alone, ${sizes.batch} events per transaction`,
        values: [{ name: "ingest", value: local.batched, unit: "events/s", chart: true }],
        ratios: [{ name: "batched / per-event", value: local.batched / local.perEvent }],
      },
      wireRow(serial, [{ name: "wire / journal alone", value: rate(serial) / local.perEvent }]),
      wireRow(streamed, [
        { name: "wire / journal alone", value: rate(streamed) / local.perEvent },
        { name: `${sizes.window} / 1 in flight`, value: rate(streamed) / rate(serial) },
      ]),
      wireRow(many, [
        { name: "wire / journal alone", value: rate(many) / local.perEvent },
        { name: `${sizes.agents} agents / 1 agent`, value: rate(many) / rate(streamed) },
      ]),
    ];
    notes.unshift(
      `Journal and probe on ${filesystemOf(work)}; every event is a ~100-byte \`step.log\`; the provisioner runs in its own process, the agents (the agent's AgentClient, no outbox) in another.`,
      "The provisioner checks each event frame as it arrives, then commits the frames of one event-loop turn, from every agent, as one IMMEDIATE transaction (GroupCommit → JournalSink.appendGroup: at most 500 events or 4 MiB; synchronous=FULL: one WAL sync per group) and only then acks each agent once, with its highest committed seq. The batched row (`Journal.appendBatch`) is the same kind of transaction with a fixed 100 events.",
      `"ack" is from an agent's send to the ack covering that event; "server CPU" is the provisioner's CPU time over the phase's wall time (100 % = one core).`,
      `Sizes: ${sizes.directPerEvent.toLocaleString("en-US")} per-event and ${sizes.directBatched.toLocaleString("en-US")} batched direct writes; over the wire ${sizes.serial.toLocaleString("en-US")} and ${sizes.streamed.toLocaleString("en-US")} events from 1 agent, ${sizes.perAgent.toLocaleString("en-US")} from each of ${sizes.agents} agents, after a warm-up.`,
    );
    return {
      benchmark: "journal",
      title: "events/s into the journal and ack latency, alone and over mTLS WebSockets",
      rows,
      notes,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
