import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { z } from "zod";
import { connectedSchema, streamedSchema, type Connected, type Streamed } from "./agents-protocol.js";
import { benchTls, type BenchTls } from "./bench-pki.js";
import { LINE_PATTERN_SQL } from "./events.js";
import { Child } from "./ipc.js";
import { openFilesLimit } from "./process-stats.js";
import { listeningSchema, serverStatsSchema, stoppedSchema, type ServerStats } from "./server-protocol.js";

/**
 * A load test of the provisioner's ingest path on loopback: the provisioner
 * (server-process.ts) and the simulated agents (agents-process.ts) each in
 * their own process, both driven from here. Every phase reports the server's
 * own CPU and memory next to what the agents saw; `stop` checks the journal
 * for every event exactly once.
 */

/** The child entries are bundled beside the runner (scripts/bench.mjs); this file only runs bundled. */
const BUNDLE_DIR = path.dirname(fileURLToPath(import.meta.url));
const SERVER_ENTRY = path.join(BUNDLE_DIR, "server-process.mjs");
const AGENTS_ENTRY = path.join(BUNDLE_DIR, "agents-process.mjs");
/** Where the bench certificates are kept between runs (see bench-pki.ts). */
const PKI_DIR = path.resolve("dist", "bench", "pki");
/** Files a process holds besides its sockets (journal, WAL, pipes, Node's own). */
const FD_HEADROOM = 64;
const RUN_ID = "bench-ingest";
/** When set, each provisioner process writes a V8 CPU profile (.cpuprofile) into this directory as it exits. */
export const PROFILE_ENV = "GROUNDCREW_BENCH_PROFILE";

export interface Phase<T> {
  readonly agents: T;
  /** Server figures before and after the phase. */
  readonly before: ServerStats;
  readonly after: ServerStats;
}

/** What the server spent in a phase: CPU seconds and that CPU over the phase's wall time (100 % = one core). */
export function serverCpu(phase: Phase<{ readonly seconds: number }>): { seconds: number; percent: number } {
  const seconds = (phase.after.process.cpuMicros - phase.before.process.cpuMicros) / 1e6;
  return { seconds, percent: phase.agents.seconds > 0 ? (100 * seconds) / phase.agents.seconds : 0 };
}

export interface JournalCheck {
  readonly hosts: number;
  readonly expectedPerHost: number;
  readonly journaled: number;
  /** Hosts whose events are not exactly seqs 1..expected, each once, each with its own line. */
  readonly hostsWrong: number;
  readonly missing: number;
  readonly duplicates: number;
  readonly wrongContent: number;
}

export function exactlyOnce(check: JournalCheck): boolean {
  return (
    check.hostsWrong === 0 &&
    check.missing === 0 &&
    check.duplicates === 0 &&
    check.wrongContent === 0 &&
    check.journaled === check.hosts * check.expectedPerHost
  );
}

export function describeCheck(check: JournalCheck): string {
  const total = check.hosts * check.expectedPerHost;
  return exactlyOnce(check)
    ? `every event landed exactly once: ${total.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} journaled, seqs 1..${check.expectedPerHost} on each of ${check.hosts === 1 ? "1 host" : `${check.hosts} hosts`}, each with its own line`
    : `NOT exactly once: ${check.journaled} journaled of ${total}; ${check.missing} missing, ${check.duplicates} duplicated, ${check.wrongContent} with the wrong line, ${check.hostsWrong} host(s) affected`;
}

const hostRowSchema = z
  .object({
    host: z.string(),
    n: z.number().int(),
    distinctSeqs: z.number().int(),
    lo: z.number().int(),
    hi: z.number().int(),
    rightLines: z.number().int(),
  })
  .strict();

/** Reads the closed journal directly (not through the product's reader) and compares it with what was sent. */
function checkJournal(file: string, hosts: readonly string[], expectedPerHost: number): JournalCheck {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        `SELECT host, count(*) AS n, count(DISTINCT seq) AS distinctSeqs, min(seq) AS lo, max(seq) AS hi,
                sum(${LINE_PATTERN_SQL}) AS rightLines
         FROM events WHERE run_id = ? GROUP BY host`,
      )
      .all(RUN_ID)
      .map((row) => hostRowSchema.parse(row));
    const byHost = new Map(rows.map((row) => [row.host, row]));
    let journaled = 0;
    let hostsWrong = 0;
    let missing = 0;
    let duplicates = 0;
    let wrongContent = 0;
    for (const host of hosts) {
      const row = byHost.get(host);
      const n = row?.n ?? 0;
      const distinct = row?.distinctSeqs ?? 0;
      journaled += n;
      duplicates += n - distinct;
      missing += Math.max(0, expectedPerHost - distinct);
      wrongContent += n - (row?.rightLines ?? 0);
      const right =
        row !== undefined &&
        distinct === expectedPerHost &&
        n === distinct &&
        row.lo === 1 &&
        row.hi === expectedPerHost &&
        row.rightLines === n;
      if (!right) hostsWrong += 1;
    }
    const strangers = rows.filter((row) => !hosts.includes(row.host));
    hostsWrong += strangers.length;
    journaled += strangers.reduce((sum, row) => sum + row.n, 0);
    return { hosts: hosts.length, expectedPerHost, journaled, hostsWrong, missing, duplicates, wrongContent };
  } finally {
    db.close();
  }
}

/** `count` host names: host-0001, host-0002, ... */
export function hostNames(count: number): string[] {
  const width = Math.max(4, String(count).length);
  return Array.from({ length: count }, (_, i) => `host-${String(i + 1).padStart(width, "0")}`);
}

export class IngestSession {
  #sentPerHost = 0;

  private constructor(
    readonly hosts: readonly string[],
    readonly tls: BenchTls,
    readonly journalPath: string,
    private readonly server: Child,
    private readonly agents: Child,
    readonly port: number,
  ) {}

  /**
   * Starts a provisioner with a fresh journal in `dir` for `agentCount`
   * hosts, and the process of simulated agents (not yet connected). Fails
   * early when the open-files limit cannot hold the sockets.
   */
  static async start(dir: string, agentCount: number): Promise<IngestSession> {
    const limit = openFilesLimit();
    if (limit !== undefined && agentCount + FD_HEADROOM > limit) {
      throw new Error(
        `${agentCount} agents need about ${agentCount + FD_HEADROOM} open files per process, but ulimit -n is ${limit}; raise it (ulimit -n ${agentCount + 1024}) and run again`,
      );
    }
    const hosts = hostNames(agentCount);
    const tls = await benchTls(PKI_DIR, hosts);
    await mkdir(dir, { recursive: true });
    const journalPath = path.join(dir, "journal.db");
    const profileDir = process.env[PROFILE_ENV];
    const server = Child.start(
      SERVER_ENTRY,
      profileDir === undefined || profileDir === ""
        ? []
        : ["--cpu-prof", `--cpu-prof-dir=${path.resolve(profileDir)}`],
    );
    const agents = Child.start(AGENTS_ENTRY);
    try {
      const { port } = await server.request(
        {
          type: "start",
          journalPath,
          runId: RUN_ID,
          hosts,
          tls: { cert: tls.server.certPem, key: tls.server.keyPem, ca: tls.caPem },
        },
        listeningSchema,
        30_000,
      );
      return new IngestSession(hosts, tls, journalPath, server, agents, port);
    } catch (error) {
      server.kill();
      agents.kill();
      throw error;
    }
  }

  serverStats(): Promise<ServerStats> {
    return this.server.request({ type: "stats" }, serverStatsSchema, 30_000);
  }

  /** Dials every agent at once; resolves when all are welcomed or `timeoutMs` passed. */
  async connect(timeoutMs: number): Promise<Phase<Connected>> {
    const before = await this.serverStats();
    const agents = await this.agents.request(
      {
        type: "connect",
        url: `wss://127.0.0.1:${this.port}/agent`,
        runId: RUN_ID,
        caPem: this.tls.caPem,
        keyPem: this.tls.hostKeyPem,
        hosts: this.hosts.map((host) => ({ host, certPem: this.tls.hostCerts.get(host) ?? "" })),
        timeoutMs,
      },
      connectedSchema,
      timeoutMs + 60_000,
    );
    return { agents, before, after: await this.serverStats() };
  }

  /** Every agent sends `events` more events with at most `window` in flight. */
  async stream(events: number, window: number, timeoutMs: number): Promise<Phase<Streamed>> {
    const before = await this.serverStats();
    const agents = await this.agents.request(
      { type: "stream", events, window, timeoutMs },
      streamedSchema,
      timeoutMs + 60_000,
    );
    this.#sentPerHost += events;
    return { agents, before, after: await this.serverStats() };
  }

  /** Closes the agents, then the provisioner, and checks the journal against everything streamed. */
  async stop(): Promise<JournalCheck> {
    try {
      await this.agents.request({ type: "stop" }, stoppedSchema, 60_000);
      await this.server.request({ type: "stop" }, stoppedSchema, 60_000);
    } finally {
      await Promise.all([this.agents.stop(), this.server.stop()]);
    }
    return checkJournal(this.journalPath, this.hosts, this.#sentPerHost);
  }

  /** Kills both processes (after a failure). */
  kill(): void {
    this.agents.kill();
    this.server.kill();
  }
}
