import { execFileSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localFs } from "../../agent/host/local-fs.js";
import { Outbox } from "../../agent/outbox/outbox.js";
import { OutboxDelivery } from "../../agent/outbox/outbox-delivery.js";
import { AgentClient } from "../../agent/transport/agent-client.js";
import type { GroundcrewError } from "../../shared/errors.js";
import type { EventEnvelope } from "../../shared/protocol.js";
import { Journal } from "../../server/journal/index.js";
import type { HostCertificate } from "../../server/pki/pki.js";
import { AgentServer } from "../../server/ws/agent-server.js";
import { describeJournalOutage, type JournalOutageNotice } from "../../server/ws/journal-outage.js";
import { RUN, planFor, waitFor } from "../fixtures/tls/harness.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";

/**
 * Promise 12 of the reliability reference, on a real full disk: the journal
 * lives on a tiny tmpfs mounted for this file (root needed; the test fails,
 * it does not skip, without it). A real Journal, AgentServer and AgentClient
 * with its on-disk outbox talk mutual TLS over loopback. While the tmpfs is
 * full the provisioner acks nothing it did not commit, keeps the connection
 * and serving, says so once, and the journal stays intact; once space
 * returns every event lands exactly once, in order, without any help.
 */

const HOST = "node-a";
/** Big enough for the journal and its WAL, small enough to fill in a blink. */
const TMPFS_SIZE = "2m";

function mount(dir: string): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "test/integration/journal-disk-full.test.ts mounts a tmpfs and must run as root (it does in CI); " +
        `this process runs as uid ${String(process.getuid?.())}`,
    );
  }
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${TMPFS_SIZE},mode=0700`, "tmpfs", dir]);
}

/** Writes `file` until the filesystem refuses another byte; returns its size. */
function fill(file: string): number {
  const fd = openSync(file, "w", 0o600);
  let size = 0;
  try {
    for (const chunk of [1 << 20, 1 << 16, 1 << 12, 1]) {
      const buffer = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        let written: number;
        try {
          written = writeSync(fd, buffer);
        } catch (error) {
          if (error instanceof Error && "code" in error && error.code === "ENOSPC") break;
          throw error;
        }
        size += written;
        if (written < chunk) break;
      }
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return size;
}

/** `PRAGMA integrity_check` and the highest seq of HOST, through a connection of its own on the file. */
function onDisk(file: string): { integrity: unknown; lastSeq: unknown } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return {
      integrity: db.pragma("integrity_check", { simple: true }),
      lastSeq: db
        .prepare("SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ? AND host = ?")
        .pluck()
        .get(RUN, HOST),
    };
  } finally {
    db.close();
  }
}

function logLine(n: number): string {
  return `line ${String(n)} ${"x".repeat(400)}`;
}

describe("journal on a full disk (a real tmpfs)", { timeout: 30_000 }, () => {
  let world: TlsWorld;
  let nodeA: HostCertificate;
  let scratch = "";
  let disk = "";

  beforeAll(async () => {
    world = await makeTlsWorld();
    nodeA = await world.hostCert(HOST);
    scratch = await mkdtemp(path.join(tmpdir(), "gc-disk-full-"));
    disk = path.join(scratch, "tmpfs");
    mkdirSync(disk);
    mount(disk);
  });

  afterAll(async () => {
    if (disk !== "") {
      try {
        execFileSync("umount", ["--lazy", disk]);
      } catch {
        // Not mounted (the mount itself failed): nothing to undo.
      }
    }
    if (scratch !== "") await rm(scratch, { recursive: true, force: true });
    await world.dispose();
  });

  it("acks nothing uncommitted while the disk is full, reports once, stays intact, and delivers every event exactly once when space returns", async () => {
    const journalFile = path.join(disk, "state", "journal.db");
    const filler = path.join(disk, "filler");
    const journal = Journal.open(journalFile);
    journal.startRun({ id: RUN, action: "apply", inventory: "fleet.yaml", hosts: [HOST] });
    const notices: JournalOutageNotice[] = [];
    const agentErrors: GroundcrewError[] = [];
    const server = await AgentServer.listen({
      host: "127.0.0.1",
      port: 0,
      tls: world.server,
      hosts: new Set([HOST]),
      sink: journal,
      onHello: (host, hello) =>
        hello.runId === RUN
          ? { plan: planFor(host), ackedSeq: journal.lastSeq(RUN, host) }
          : { reject: "UNKNOWN_RUN", message: `no run ${hello.runId}` },
      onAgentError: (error) => agentErrors.push(error),
      onJournalOutage: (notice) => notices.push(notice),
      pingIntervalMs: 100,
      deadlineMs: 3000,
    });

    const outbox = await Outbox.open(localFs, path.join(scratch, "agent"), RUN, HOST);
    const acks: number[] = [];
    const ackBeyondCommit: number[] = [];
    const disconnects: number[] = [];
    let welcomes = 0;
    const client: AgentClient = new AgentClient({
      url: `wss://127.0.0.1:${String(server.address().port)}/agent`,
      tls: { cert: nodeA.certPem, key: nodeA.keyPem, ca: nodeA.caPem },
      identity: { host: HOST, runId: RUN, agentVersion: "test" },
      pingIntervalMs: 100,
      deadlineMs: 3000,
      backoff: { baseMs: 50, capMs: 200 },
      onWelcome: (welcome) => {
        welcomes += 1;
        void delivery.welcomed(welcome.ackedSeq);
      },
      onAck: (seq) => {
        acks.push(seq);
        // Read from the file, not from the journal object: what an ack covers must be on disk.
        if (seq > Number(onDisk(journalFile).lastSeq)) ackBeyondCommit.push(seq);
        void delivery.acked(seq);
      },
      onReject: (code, message) => {
        throw new Error(`unexpected reject ${code}: ${message}`);
      },
      onDisconnect: ({ code }) => disconnects.push(code),
    });
    const delivery = new OutboxDelivery(outbox, (envelope) => client.send(envelope));
    const emit = async (from: number, to: number): Promise<void> => {
      for (let n = from; n <= to; n++) {
        await outbox.append({ kind: "step.log", stepId: "swap-off", stream: "stdout", line: logLine(n) });
      }
    };

    try {
      client.start();
      await waitFor(() => client.state === "welcomed", 5000, "welcome");
      await emit(1, 20);
      await waitFor(() => outbox.ackedSeq === 20, 5000, "the first 20 acked");

      const fillerBytes = fill(filler);
      expect(fillerBytes).toBeGreaterThan(0);
      await emit(21, 40);
      await waitFor(() => notices.length === 1, 5000, "the outage notice");
      // Many retries (one per 100 ms tick) fail meanwhile; the agent keeps sending nothing new.
      await new Promise((resolve) => setTimeout(resolve, 1000));

      expect(notices[0]?.kind).toBe("stalled");
      const stalled = notices[0];
      if (stalled?.kind !== "stalled") throw new Error("no stalled notice");
      expect(stalled.error).toMatchObject({
        code: "JOURNAL_WRITE_FAILED",
        retryable: true,
        context: { sqliteCode: "SQLITE_FULL", path: journalFile },
      });
      expect(describeJournalOutage(stalled, journal.path)).toContain(
        `the journal at ${journalFile} cannot be written (SQLITE_FULL: its disk is full)`,
      );
      expect(describeJournalOutage(stalled, journal.path)).toContain(
        "agents keep their events on their hosts until space returns",
      );
      expect(notices).toHaveLength(1);
      expect(agentErrors).toEqual([]);
      expect(Math.max(...acks)).toBe(20);
      expect(outbox.ackedSeq).toBe(20);
      expect(outbox.pending().map((event) => event.seq)).toEqual(range(21, 40));
      expect(journal.lastSeq(RUN, HOST)).toBe(20);
      expect(onDisk(journalFile)).toEqual({ integrity: "ok", lastSeq: 20 });
      // Still serving: the session is up and welcomed, nothing was torn down.
      expect(client.state).toBe("welcomed");
      expect(server.liveHosts()).toEqual([HOST]);
      expect(disconnects).toEqual([]);

      unlinkSync(filler);
      await waitFor(() => outbox.ackedSeq === 40, 10_000, "all 40 acked after space returned");
      expect(notices.map((notice) => notice.kind)).toEqual(["stalled", "resumed"]);
      // Events were held back meanwhile, so the agent was asked to redial (1013) and resent them.
      expect(disconnects).toEqual([1013]);
      expect(welcomes).toBe(2);

      await emit(41, 45);
      await waitFor(() => outbox.ackedSeq === 45, 5000, "events after the outage");
      expect(ackBeyondCommit).toEqual([]);
      expect(agentErrors).toEqual([]);
      const stored = journal.events({ runId: RUN, host: HOST });
      expect(stored.map((event) => event.seq)).toEqual(range(1, 45));
      expect(stored.map((event) => lineOf(event))).toEqual(range(1, 45).map(logLine));
      expect(onDisk(journalFile)).toEqual({ integrity: "ok", lastSeq: 45 });
    } finally {
      await client.close();
      delivery.stop();
      await server.close();
      journal.close();
      rmSync(filler, { force: true });
    }

    const reopened = Journal.open(journalFile);
    try {
      expect(reopened.events({ runId: RUN, host: HOST }).map((event) => event.seq)).toEqual(range(1, 45));
    } finally {
      reopened.close();
    }
    expect(onDisk(journalFile)).toEqual({ integrity: "ok", lastSeq: 45 });
  });

  it("a journal closed while the disk is full (its checkpoint refused) still reads, reopens, refuses writes cleanly, and takes them again once space returns", () => {
    const journalFile = path.join(disk, "closed", "journal.db");
    const filler = path.join(disk, "filler");
    const journal = Journal.open(journalFile);
    journal.startRun({ id: RUN, action: "apply", inventory: "fleet.yaml", hosts: [HOST] });
    const line = (seq: number): EventEnvelope => ({
      runId: RUN,
      host: HOST,
      seq,
      at: new Date(Date.UTC(2030, 0, 1, 0, 0, seq)).toISOString(),
      event: { kind: "step.log", stepId: "swap-off", stream: "stdout", line: logLine(seq) },
    });
    for (let seq = 1; seq <= 30; seq++) journal.append(line(seq));
    try {
      fill(filler);
      let refused: unknown;
      try {
        journal.append(line(31));
      } catch (error) {
        refused = error;
      }
      expect(refused).toMatchObject({ code: "JOURNAL_WRITE_FAILED", context: { sqliteCode: "SQLITE_FULL" } });
      // Closing checkpoints the WAL into the database file, which would have to grow: refused, the WAL stays.
      journal.close();
      expect(existsSync(`${journalFile}-wal`)).toBe(true);

      const reader = Journal.open(journalFile, { readonly: true });
      try {
        expect(reader.lastSeq(RUN, HOST)).toBe(30);
      } finally {
        reader.close();
      }
      // A provisioner restarted meanwhile opens it (the lock file reuses the page its predecessor freed)
      // and is refused writes the same clean way.
      const restarted = Journal.open(journalFile);
      try {
        let again: unknown;
        try {
          restarted.append(line(31));
        } catch (error) {
          again = error;
        }
        expect(again).toMatchObject({ code: "JOURNAL_WRITE_FAILED", context: { sqliteCode: "SQLITE_FULL" } });
        expect(restarted.lastSeq(RUN, HOST)).toBe(30);
      } finally {
        restarted.close();
      }
      expect(onDisk(journalFile)).toEqual({ integrity: "ok", lastSeq: 30 });
    } finally {
      rmSync(filler, { force: true });
    }

    const reopened = Journal.open(journalFile);
    try {
      expect(reopened.append(line(31))).toBe("inserted");
      expect(reopened.events({ runId: RUN, host: HOST }).map((event) => event.seq)).toEqual(range(1, 31));
    } finally {
      reopened.close();
    }
    expect(existsSync(`${journalFile}-wal`)).toBe(false);
    expect(onDisk(journalFile)).toEqual({ integrity: "ok", lastSeq: 31 });
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

function lineOf(event: EventEnvelope): string {
  return event.event.kind === "step.log" ? event.event.line : "";
}
