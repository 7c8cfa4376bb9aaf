import { describe, expect, it } from "vitest";
import { GroundcrewError } from "../../shared/errors.js";
import { PROTOCOL_VERSION, type EventEnvelope } from "../../shared/protocol.js";
import { CLOSE } from "../../server/ws/agent-connection.js";
import { AgentHub } from "../../server/ws/agent-hub.js";
import {
  JournalOutage,
  describeJournalOutage,
  isJournalStall,
  type JournalOutageNotice,
} from "../../server/ws/journal-outage.js";
import { FakeWebSocket } from "../fakes/fake-websocket.js";
import { MemorySink } from "../fixtures/tls/memory-sink.js";

/**
 * A journal that cannot take writes for now (server/ws/journal-outage.ts,
 * GroupCommit, AgentConnection, AgentHub): nothing is acked that was not
 * committed, the outage is announced once, connections stay open, held
 * events are retried on the hub's tick (one transaction for all of them),
 * and a connection that ignored events meanwhile is closed with 1013 so its
 * agent resends them. Group commits run when the test calls `flush` (a turn
 * of the event loop). The real disk-full twin is
 * test/integration/journal-disk-full.test.ts.
 */

const RUN = "run-1";
const JOURNAL = "/var/lib/groundcrew/journal.db";

function diskFull(): GroundcrewError {
  return new GroundcrewError(
    "JOURNAL_WRITE_FAILED",
    `append failed on the journal at ${JOURNAL}: database or disk is full (SQLITE_FULL)`,
    { retryable: true, context: { path: JOURNAL, operation: "append", sqliteCode: "SQLITE_FULL" } },
  );
}

function envelope(host: string, seq: number): EventEnvelope {
  return {
    runId: RUN,
    host,
    seq,
    at: new Date(Date.UTC(2030, 0, 1, 0, 0, seq)).toISOString(),
    event: { kind: "step.log", stepId: "s1", stream: "stdout", line: `line ${String(seq)}` },
  };
}

function frame(event: EventEnvelope): string {
  return JSON.stringify({ type: "event", envelope: event });
}

interface World {
  readonly hub: AgentHub;
  readonly sink: MemorySink;
  readonly notices: JournalOutageNotice[];
  readonly reports: GroundcrewError[];
  readonly clock: { now: number };
  readonly connect: (host: string) => FakeWebSocket;
  /** Runs the scheduled group commits. */
  readonly flush: () => void;
}

function world(options: { announce?: boolean } = {}): World {
  const sink = new MemorySink();
  const notices: JournalOutageNotice[] = [];
  const reports: GroundcrewError[] = [];
  const clock = { now: 0 };
  const scheduled: (() => void)[] = [];
  const hub = new AgentHub({
    sink,
    onHello: (host, hello) => ({
      plan: { runId: hello.runId, host, action: "apply", steps: [] },
      ackedSeq: sink.lastSeq(hello.runId, host),
    }),
    report: (error) => reports.push(error),
    ...(options.announce === false ? {} : { onJournalOutage: (notice) => notices.push(notice) }),
    now: () => clock.now,
    deadlineMs: 60_000,
    closeGraceMs: 60_000,
    groupCommit: { schedule: (flush) => scheduled.push(flush) },
  });
  return {
    hub,
    sink,
    notices,
    reports,
    clock,
    flush: () => {
      for (let run = scheduled.shift(); run !== undefined; run = scheduled.shift()) run();
    },
    connect: (host) => {
      const ws = new FakeWebSocket();
      hub.accept(ws.socket, { host, serial: "01", remote: `192.0.2.1:${host}` });
      ws.receive(
        JSON.stringify({ type: "hello", protocol: PROTOCOL_VERSION, agentVersion: "test", host, runId: RUN }),
      );
      return ws;
    },
  };
}

function acks(ws: FakeWebSocket): number[] {
  return ws.of("ack").map((ack) => ack.seq);
}

describe("JournalOutage", () => {
  it("announces the start of an outage once and its end once, counting the refused commits", () => {
    const outage = new JournalOutage();
    expect(outage.committed(5, 0)).toBeUndefined();
    const error = diskFull();
    expect(outage.failed(1000, error)).toEqual({ kind: "stalled", error });
    expect(outage.active).toBe(true);
    expect(outage.failed(1100, diskFull())).toBeUndefined();
    expect(outage.failed(1200, diskFull())).toBeUndefined();
    // A commit while another connection still holds an event does not end it.
    expect(outage.committed(1500, 1)).toBeUndefined();
    expect(outage.committed(3500, 0)).toEqual({ kind: "resumed", afterMs: 2500, failedCommits: 3 });
    expect(outage.active).toBe(false);
    expect(outage.committed(3600, 0)).toBeUndefined();
    // The next outage counts afresh.
    expect(outage.failed(4000, error)?.kind).toBe("stalled");
    expect(outage.committed(4100, 0)).toEqual({ kind: "resumed", afterMs: 100, failedCommits: 1 });
  });

  it("takes only retryable journal failures that do not blame the agent as a stall", () => {
    expect(isJournalStall(diskFull())).toBe(true);
    expect(isJournalStall(new GroundcrewError("JOURNAL_WRITE_FAILED", "corrupt", { retryable: false }))).toBe(
      false,
    );
    expect(isJournalStall(new GroundcrewError("JOURNAL_GAP", "gap", { retryable: true }))).toBe(false);
    expect(isJournalStall(new GroundcrewError("JOURNAL_CLOSED", "closed"))).toBe(false);
    expect(isJournalStall(new Error("SQLITE_FULL: database or disk is full"))).toBe(false);
  });

  it("describes an outage naming the journal, the cause and that agents keep their events", () => {
    const stalled = describeJournalOutage({ kind: "stalled", error: diskFull() }, JOURNAL);
    expect(stalled).toBe(
      `the journal at ${JOURNAL} cannot be written (SQLITE_FULL: its disk is full): nothing more is ` +
        "acknowledged; agents keep their events on their hosts until space returns, then resend them; " +
        "free space on the journal's disk to continue",
    );
    const io = new GroundcrewError("JOURNAL_WRITE_FAILED", "x", {
      retryable: true,
      context: { sqliteCode: "SQLITE_IOERR_WRITE" },
    });
    expect(describeJournalOutage({ kind: "stalled", error: io }, JOURNAL)).toContain(
      `the journal at ${JOURNAL} cannot be written (SQLITE_IOERR_WRITE): nothing more is acknowledged`,
    );
    expect(describeJournalOutage({ kind: "resumed", afterMs: 12_340, failedCommits: 7 }, JOURNAL)).toBe(
      `the journal at ${JOURNAL} takes writes again after 12.3 s (7 commit(s) refused meanwhile); ` +
        "agents resend the events they kept",
    );
  });
});

describe("agent channel while the journal refuses writes", () => {
  it("acks nothing uncommitted, keeps connections open, announces once, and resumes exactly once in order", () => {
    const { hub, sink, notices, reports, clock, connect, flush } = world();
    const a = connect("node-a");
    const b = connect("node-b");
    a.receive(frame(envelope("node-a", 1)));
    flush();
    expect(acks(a)).toEqual([1]);

    sink.failWith = diskFull();
    clock.now = 1000;
    for (let seq = 2; seq <= 6; seq++) a.receive(frame(envelope("node-a", seq)));
    b.receive(frame(envelope("node-b", 1)));
    flush();
    expect(acks(a)).toEqual([1]);
    expect(acks(b)).toEqual([]);
    // The frames went to the journal in one transaction, refused as a whole: each connection now
    // holds its first event of it; node-a's others wait in its agent's outbox.
    expect(sink.groups.map((group) => group.map((call) => `${call.host}#${String(call.seq)}`))).toEqual([
      ["node-a#1"],
      ["node-a#2", "node-a#3", "node-a#4", "node-a#5", "node-a#6", "node-b#1"],
    ]);
    expect(notices).toEqual([{ kind: "stalled", error: sink.failWith }]);
    expect(reports).toEqual([]);
    expect([a.closedWith, b.closedWith]).toEqual([undefined, undefined]);

    // Still full: one retry per tick, of every held event in one transaction; nothing acked, nothing announced.
    clock.now = 2000;
    hub.tick();
    hub.tick();
    expect(
      sink.groups.slice(2).map((group) => group.map((call) => `${call.host}#${String(call.seq)}`)),
    ).toEqual([
      ["node-a#2", "node-b#1"],
      ["node-a#2", "node-b#1"],
    ]);
    expect([acks(a), acks(b)]).toEqual([[1], []]);
    expect(notices).toHaveLength(1);

    // A frame that comes meanwhile on a holding connection is ignored, not journaled.
    a.receive(frame(envelope("node-a", 7)));
    flush();
    expect(sink.groups).toHaveLength(4);

    // Space is back: the held events commit and are acked; node-a ignored frames meanwhile, so it
    // is told to redial and resend (1013); node-b ignored none and simply goes on.
    sink.failWith = undefined;
    clock.now = 4500;
    hub.tick();
    expect(acks(a)).toEqual([1, 2]);
    expect(a.closedWith?.code).toBe(CLOSE.tryAgainLater);
    expect(acks(b)).toEqual([1]);
    expect(b.closedWith).toBeUndefined();
    expect(notices.slice(1)).toEqual([{ kind: "resumed", afterMs: 3500, failedCommits: 3 }]);
    b.receive(frame(envelope("node-b", 2)));
    flush();
    expect(acks(b)).toEqual([1, 2]);

    // node-a's agent redials and resends everything after the welcome's ackedSeq.
    const again = connect("node-a");
    expect(again.of("welcome")[0]?.ackedSeq).toBe(2);
    for (let seq = 3; seq <= 7; seq++) again.receive(frame(envelope("node-a", seq)));
    flush();
    expect(acks(again)).toEqual([7]);
    expect(sink.seqs(RUN, "node-a")).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sink.seqs(RUN, "node-b")).toEqual([1, 2]);
    expect(reports).toEqual([]);
    expect(notices).toHaveLength(2);
  });

  it("announces again only for a new outage, and reports a stall without an outage callback", () => {
    const { hub, sink, notices, connect, flush } = world();
    const a = connect("node-a");
    for (const round of [1, 2]) {
      sink.failWith = diskFull();
      a.receive(frame(envelope("node-a", round)));
      flush();
      sink.failWith = undefined;
      hub.tick();
    }
    expect(acks(a)).toEqual([1, 2]);
    expect(notices.map((notice) => notice.kind)).toEqual(["stalled", "resumed", "stalled", "resumed"]);

    const silent = world({ announce: false });
    const c = silent.connect("node-a");
    silent.sink.failWith = diskFull();
    c.receive(frame(envelope("node-a", 1)));
    silent.flush();
    c.receive(frame(envelope("node-a", 2)));
    silent.flush();
    expect(silent.reports.map((error) => [error.code, error.retryable])).toEqual([
      ["AGENT_JOURNAL_FAILED", true],
    ]);
    expect(silent.reports[0]?.message).toContain(JOURNAL);
  });

  it("forgets the held event of a connection that closes, and ends the outage on the next commit", () => {
    const { hub, sink, notices, connect, flush } = world();
    const a = connect("node-a");
    sink.failWith = diskFull();
    a.receive(frame(envelope("node-a", 1)));
    flush();
    a.readyState = 3;
    a.emit("close", 1006, Buffer.from(""));
    sink.failWith = undefined;
    hub.tick();
    expect(sink.calls).toHaveLength(1);
    expect(notices.map((notice) => notice.kind)).toEqual(["stalled"]);

    const again = connect("node-a");
    again.receive(frame(envelope("node-a", 1)));
    flush();
    expect(acks(again)).toEqual([1]);
    expect(notices.map((notice) => notice.kind)).toEqual(["stalled", "resumed"]);
  });

  it("still closes with 1011 on a journal failure that is not a stall", () => {
    const { sink, notices, reports, connect, flush } = world();
    const a = connect("node-a");
    sink.failWith = new GroundcrewError("JOURNAL_CLOSED", `the journal at ${JOURNAL} is closed`);
    a.receive(frame(envelope("node-a", 1)));
    flush();
    expect(a.closedWith?.code).toBe(CLOSE.internal);
    expect(acks(a)).toEqual([]);
    expect(reports.map((error) => error.code)).toEqual(["AGENT_JOURNAL_FAILED"]);
    expect(notices).toEqual([]);
  });
});
