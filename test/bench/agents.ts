import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Connected, Streamed } from "./ingest/agents-protocol.js";
import { filesystemOf } from "./ingest/disk.js";
import { describeCheck, IngestSession, serverCpu, type JournalCheck, type Phase } from "./ingest/harness.js";
import { describeProblems } from "./ingest/problems.js";
import { openFilesLimit, sysctl } from "./ingest/process-stats.js";
import type { ServerStats } from "./ingest/server-protocol.js";
import type { BenchOptions, BenchResult, Row } from "./report/types.js";

/**
 * Many agents at once: N simulated agents (the agent's real AgentClient,
 * each with its own host certificate) dial the real AgentServer on loopback
 * all at once, then every one streams events into the real journal. The
 * provisioner runs alone in its process: its RSS, CPU time and open files
 * are its own. A smaller fleet runs first in the same run, so the big one
 * can be read as a ratio. The journal is checked afterwards: every event
 * exactly once.
 */

interface Sizes {
  readonly fleets: readonly [number, number];
  readonly events: number;
  readonly window: number;
}

const FULL: Sizes = { fleets: [100, 1000], events: 50, window: 8 };
const QUICK: Sizes = { fleets: [20, 100], events: 5, window: 8 };
const CONNECT_TIMEOUT_MS = 180_000;
const STREAM_TIMEOUT_MS = 600_000;
/** Node's default listen backlog; AgentServer.listen passes none. */
const NODE_LISTEN_BACKLOG = 511;

interface Fleet {
  readonly agents: number;
  readonly baseline: ServerStats;
  readonly connect: Phase<Connected>;
  readonly stream: Phase<Streamed>;
  readonly final: ServerStats;
  readonly check: JournalCheck;
  readonly issued: number;
  readonly issueSeconds: number;
}

async function runFleet(dir: string, agents: number, sizes: Sizes): Promise<Fleet> {
  const session = await IngestSession.start(dir, agents);
  try {
    const baseline = await session.serverStats();
    const connect = await session.connect(CONNECT_TIMEOUT_MS);
    if (connect.agents.welcomed !== agents) {
      throw new Error(
        `only ${connect.agents.welcomed} of ${agents} agents were welcomed within ${CONNECT_TIMEOUT_MS / 1000} s`,
      );
    }
    const stream = await session.stream(sizes.events, sizes.window, STREAM_TIMEOUT_MS);
    const final = await session.serverStats();
    const check = await session.stop();
    return {
      agents,
      baseline,
      connect,
      stream,
      final,
      check,
      issued: session.tls.issued,
      issueSeconds: session.tls.issueSeconds,
    };
  } catch (error) {
    session.kill();
    throw error;
  }
}

const perAgentRss = (fleet: Fleet): number =>
  (fleet.connect.after.process.rssBytes - fleet.baseline.process.rssBytes) / fleet.agents;
const cpuPerEvent = (fleet: Fleet): number =>
  (1000 * serverCpu(fleet.stream).seconds) / Math.max(1, fleet.stream.agents.acked);
const ingest = (fleet: Fleet): number => fleet.stream.agents.acked / fleet.stream.agents.seconds;

function rowsOf(fleet: Fleet, sizes: Sizes, small?: Fleet): Row[] {
  const connect = fleet.connect.agents;
  const stream = fleet.stream.agents;
  const vs = small === undefined ? "" : `${fleet.agents} / ${small.agents}`;
  const ratio = (name: string, big: number, little: number): Row["ratios"] =>
    small === undefined || little === 0 ? [] : [{ name: `${name} ${vs}`, value: big / little }];
  return [
    {
      case: `${fleet.agents.toLocaleString("en-US")} agents dial at once`,
      values: [
        { name: "all welcomed", value: connect.seconds, unit: "s", chart: true },
        { name: "welcome p50", value: connect.welcomeMs.p50, unit: "ms" },
        { name: "welcome p99", value: connect.welcomeMs.p99, unit: "ms" },
        { name: "server CPU", value: serverCpu(fleet.connect).seconds, unit: "s" },
        { name: "server RSS", value: fleet.connect.after.process.rssBytes, unit: "bytes", chart: true },
        { name: "RSS/agent", value: perAgentRss(fleet), unit: "bytes" },
        { name: "server fds", value: fleet.connect.after.process.openFds, unit: "count" },
      ],
      ratios: [
        ...ratio("time", connect.seconds, small?.connect.agents.seconds ?? 0),
        ...ratio("RSS/agent", perAgentRss(fleet), small === undefined ? 0 : perAgentRss(small)),
      ],
    },
    {
      case: `${fleet.agents.toLocaleString("en-US")} agents × ${sizes.events} events, ${sizes.window} in flight`,
      values: [
        { name: "wall", value: stream.seconds, unit: "s" },
        { name: "ingest", value: ingest(fleet), unit: "events/s", chart: true },
        { name: "ack p50", value: stream.ackMs.p50, unit: "ms" },
        { name: "ack p99", value: stream.ackMs.p99, unit: "ms" },
        { name: "server CPU", value: serverCpu(fleet.stream).seconds, unit: "s" },
        { name: "server CPU/event", value: cpuPerEvent(fleet), unit: "ms" },
        { name: "server peak RSS", value: fleet.final.process.peakRssBytes, unit: "bytes", chart: true },
        {
          name: "lost or doubled",
          value: fleet.check.missing + fleet.check.duplicates + fleet.check.wrongContent,
          unit: "count",
        },
      ],
      ratios: [
        ...ratio("ingest", ingest(fleet), small === undefined ? 0 : ingest(small)),
        ...ratio("CPU/event", cpuPerEvent(fleet), small === undefined ? 0 : cpuPerEvent(small)),
      ],
    },
  ];
}

function fleetNotes(fleet: Fleet): string[] {
  const label = `${fleet.agents} agents`;
  const generator = fleet.stream.agents.process.cpuMicros / 1e6;
  const { acked, expected } = fleet.stream.agents;
  const partial =
    acked < expected
      ? [
          `${label}: only ${acked.toLocaleString("en-US")} of ${expected.toLocaleString("en-US")} events were acked within ${STREAM_TIMEOUT_MS / 1000} s; the journal check counts the rest as missing.`,
        ]
      : [];
  return [
    ...partial,
    `${label}: ${describeCheck(fleet.check)}.`,
    `${label}: server RSS ${mib(fleet.baseline.process.rssBytes)} listening, ${mib(fleet.connect.after.process.rssBytes)} with all connected, ${mib(fleet.final.process.rssBytes)} after streaming (peak ${mib(fleet.final.process.peakRssBytes)}); ${fleet.connect.after.process.openFds} open files with all connected; slowest welcome ${(fleet.connect.agents.welcomeMs.max / 1000).toFixed(2)} s; the agents' own process used ${generator.toFixed(1)} s of CPU in all (it shares the machine's cores with the server).`,
    ...describeProblems(`${label}, dialing`, fleet.connect),
    ...describeProblems(`${label}, streaming`, fleet.stream),
  ];
}

const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(0)} MiB`;

function limitNotes(fleets: readonly Fleet[], work: string): string[] {
  const limit = openFilesLimit();
  const issued = fleets.reduce((sum, fleet) => sum + fleet.issued, 0);
  const issueSeconds = fleets.reduce((sum, fleet) => sum + fleet.issueSeconds, 0);
  return [
    `Limits on this machine: open files (ulimit -n, soft) ${limit === undefined ? "unknown" : String(limit)} per process, which each process needs above its agent count; listen backlog ${NODE_LISTEN_BACKLOG} (Node's default; AgentServer passes none) capped by net.core.somaxconn ${sysctl("net/core/somaxconn") ?? "?"}; net.ipv4.tcp_max_syn_backlog ${sysctl("net/ipv4/tcp_max_syn_backlog") ?? "?"}; ephemeral ports ${sysctl("net/ipv4/ip_local_port_range") ?? "?"}.`,
    `Certificates: one per agent from the product's cert-builder and CA, sharing one RSA-2048 key; ${issued} signed in this run (${issueSeconds.toFixed(1)} s, checking the reused ones included), the rest reused from dist/bench/pki.`,
    `Journal on ${filesystemOf(work)}; every event is a ~100-byte \`step.log\`, committed in groups (the frames of one event-loop turn, at most 500) as the server does.`,
  ];
}

export async function agents(options: BenchOptions): Promise<BenchResult> {
  const sizes = options.quick ? QUICK : FULL;
  const work = await mkdtemp(path.join(os.tmpdir(), "groundcrew-bench-agents-"));
  try {
    const [smallSize, bigSize] = sizes.fleets;
    const small = await runFleet(path.join(work, "small"), smallSize, sizes);
    const big = await runFleet(path.join(work, "big"), bigSize, sizes);
    return {
      benchmark: "agents",
      title: `${bigSize.toLocaleString("en-US")} simulated agents on loopback (and ${smallSize} for the ratio): connect at once, then stream`,
      rows: [...rowsOf(small, sizes), ...rowsOf(big, sizes, small)],
      notes: [...limitNotes([small, big], work), ...fleetNotes(small), ...fleetNotes(big)],
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
