import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GroundcrewError } from "../../shared/errors.js";
import { PROTOCOL_VERSION, type EventEnvelope } from "../../shared/protocol.js";
import { Journal } from "../../server/journal/index.js";
import { CLOSE } from "../../server/ws/agent-connection.js";
import { AgentHub } from "../../server/ws/agent-hub.js";
import type { GroupCommitOptions } from "../../server/ws/group-commit.js";
import type { JournalOutageNotice } from "../../server/ws/journal-outage.js";
import { FakeWebSocket } from "../fakes/fake-websocket.js";

/**
 * Group commit (server/ws/group-commit.ts) through the real AgentHub and
 * AgentConnection on fake sockets, into a real SQLite journal. What is
 * proved, against a second, read-only connection on the journal's file:
 * frames of several connections share one transaction; every ack and
 * every `onEvent` comes only after the commit of what it covers; a refused
 * group acks nothing and commits later; groups respect their caps and the
 * event loop gets a turn between two; `onEvent` runs in seq order per host;
 * the protocol's refusals keep their meaning inside a group.
 */

const RUN = "run-1";
const HOSTS = ["node-a", "node-b", "node-c"];

let dir: string;
const closers: (() => void)[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "gc-group-commit-"));
});

afterEach(() => {
  for (const close of closers.splice(0).reverse()) close();
  rmSync(dir, { recursive: true, force: true });
});

function envelope(host: string, seq: number, line = `${host} line ${String(seq)}`): EventEnvelope {
  return {
    runId: RUN,
    host,
    seq,
    at: new Date(Date.UTC(2030, 0, 1, 0, 0, seq)).toISOString(),
    event: { kind: "step.log", stepId: "s1", stream: "stdout", line },
  };
}

function frame(event: EventEnvelope): string {
  return JSON.stringify({ type: "event", envelope: event });
}

const label = (event: EventEnvelope): string => `${event.host.slice(-1)}${String(event.seq)}`;

interface World {
  readonly hub: AgentHub;
  /** The journal's file as another process sees it: only what is committed. */
  readonly onDisk: (host: string) => number[];
  /** Each group the sink was given, as "a1" labels. */
  readonly groups: string[][];
  /** What onEvent saw, in order. */
  readonly passedOn: EventEnvelope[];
  /** Acks or onEvent calls that came before the journal on disk held what they cover. */
  readonly early: string[];
  readonly notices: JournalOutageNotice[];
  readonly reports: GroundcrewError[];
  /** The flushes scheduled and not run yet. */
  readonly scheduled: (() => void)[];
  /** Makes the sink refuse every group with a stall (a full disk) until set back to false. */
  stall: boolean;
  connect(host: string): FakeWebSocket;
  /** Runs the next scheduled flush (one turn of the event loop). */
  turn(): void;
  /** Runs flushes until none is scheduled. */
  flush(): void;
}

function world(group: Pick<GroupCommitOptions, "maxEvents" | "maxBytes"> & { manual?: boolean } = {}): World {
  const journal = Journal.open(path.join(dir, "journal.db"));
  closers.push(() => {
    journal.close();
  });
  journal.startRun({ id: RUN, action: "apply", inventory: "fleet.yaml", hosts: HOSTS });
  const reader = Journal.open(path.join(dir, "journal.db"), { readonly: true });
  closers.push(() => {
    reader.close();
  });
  const onDisk = (host: string): number[] => reader.events({ runId: RUN, host }).map((event) => event.seq);
  const sockets = new Map<string, FakeWebSocket>();
  const scheduled: (() => void)[] = [];
  const state: World = {
    hub: undefined as unknown as AgentHub,
    onDisk,
    groups: [],
    passedOn: [],
    early: [],
    notices: [],
    reports: [],
    scheduled,
    stall: false,
    connect: (host) => {
      const ws = new (class extends FakeWebSocket {
        override send(data: string): void {
          super.send(data);
          const sent = this.sent.at(-1);
          if (sent?.type === "ack" && !onDisk(host).includes(sent.seq))
            state.early.push(`ack ${host}#${sent.seq}`);
        }
      })();
      sockets.set(host, ws);
      state.hub.accept(ws.socket, { host, serial: "01", remote: `192.0.2.1:${host}` });
      ws.receive(
        JSON.stringify({ type: "hello", protocol: PROTOCOL_VERSION, agentVersion: "test", host, runId: RUN }),
      );
      return ws;
    },
    turn: () => {
      scheduled.shift()?.();
    },
    flush: () => {
      for (let run = scheduled.shift(); run !== undefined; run = scheduled.shift()) run();
    },
  };
  const hub = new AgentHub({
    sink: {
      append: (event) => journal.append(event),
      appendGroup: (events) => {
        state.groups.push(events.map(label));
        if (state.stall) {
          throw new GroundcrewError("JOURNAL_WRITE_FAILED", "appendGroup failed: database or disk is full", {
            retryable: true,
            context: { sqliteCode: "SQLITE_FULL" },
          });
        }
        return journal.appendGroup(events);
      },
    },
    onHello: (host, hello) => ({
      plan: { runId: hello.runId, host, action: "apply", steps: [] },
      ackedSeq: journal.lastSeq(hello.runId, host),
    }),
    onEvent: (event) => {
      state.passedOn.push(event);
      if (!onDisk(event.host).includes(event.seq)) state.early.push(`onEvent ${label(event)} before commit`);
      const acked = sockets.get(event.host)?.of("ack").at(-1)?.seq ?? 0;
      if (acked < event.seq) state.early.push(`onEvent ${label(event)} before its ack`);
    },
    report: (error) => state.reports.push(error),
    onJournalOutage: (notice) => state.notices.push(notice),
    now: () => 0,
    deadlineMs: 60_000,
    closeGraceMs: 60_000,
    ...(group.manual === false
      ? {}
      : { groupCommit: { ...group, schedule: (flush: () => void) => scheduled.push(flush) } }),
  });
  Object.assign(state, { hub });
  return state;
}

function acks(ws: FakeWebSocket): number[] {
  return ws.of("ack").map((ack) => ack.seq);
}

describe("group commit of the agents' events", () => {
  it("commits frames of several connections in one transaction, then acks each once with its highest seq", () => {
    const w = world();
    const [a, b, c] = HOSTS.map((host) => w.connect(host)) as [FakeWebSocket, FakeWebSocket, FakeWebSocket];
    for (let seq = 1; seq <= 4; seq++) {
      a.receive(frame(envelope("node-a", seq)));
      b.receive(frame(envelope("node-b", seq)));
      if (seq <= 2) c.receive(frame(envelope("node-c", seq)));
    }
    // Nothing is committed nor acked before the flush.
    expect([acks(a), acks(b), acks(c)]).toEqual([[], [], []]);
    expect(w.onDisk("node-a")).toEqual([]);
    expect(w.scheduled).toHaveLength(1);
    w.turn();
    expect(w.groups).toEqual([["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "a4", "b4"]]);
    expect([acks(a), acks(b), acks(c)]).toEqual([[4], [4], [2]]);
    expect(w.onDisk("node-a")).toEqual([1, 2, 3, 4]);
    expect(w.early).toEqual([]);
    expect(w.scheduled).toEqual([]);

    // A resend of a committed event rides along as a duplicate: acked again, not passed on twice.
    b.receive(frame(envelope("node-b", 2)));
    a.receive(frame(envelope("node-a", 5)));
    w.flush();
    expect(w.groups.at(-1)).toEqual(["b2", "a5"]);
    expect([acks(a), acks(b)]).toEqual([
      [4, 5],
      [4, 4],
    ]);
    // Per connection, in seq order: each connection's new events right after its ack.
    expect(w.passedOn.map(label)).toEqual(["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "c1", "c2", "a5"]);
    expect(w.reports).toEqual([]);
    expect(w.early).toEqual([]);
  });

  it("passes new events on after their commit and ack, in seq order per host", () => {
    const w = world({ maxEvents: 4 });
    const sockets = HOSTS.map((host) => w.connect(host));
    const counts = [9, 5, 7];
    for (let seq = 1; seq <= 9; seq++) {
      sockets.forEach((ws, i) => {
        if (seq <= counts[i]!) ws.receive(frame(envelope(HOSTS[i]!, seq)));
        // Resends in between: journaled once, passed on once.
        if (seq % 3 === 0 && seq <= counts[i]!) ws.receive(frame(envelope(HOSTS[i]!, seq - 1)));
      });
      if (seq % 4 === 0) w.turn();
    }
    w.flush();
    expect(w.groups.length).toBeGreaterThan(2);
    expect(w.early).toEqual([]);
    expect(w.reports).toEqual([]);
    HOSTS.forEach((host, i) => {
      const own = w.passedOn.filter((event) => event.host === host).map((event) => event.seq);
      expect(own).toEqual(Array.from({ length: counts[i]! }, (_, n) => n + 1));
      expect(w.onDisk(host)).toEqual(own);
    });
  });

  it("caps a group at maxEvents and gives the event loop a turn before the next group", () => {
    const w = world({ maxEvents: 3 });
    const a = w.connect("node-a");
    const b = w.connect("node-b");
    for (let seq = 1; seq <= 5; seq++) a.receive(frame(envelope("node-a", seq)));
    for (let seq = 1; seq <= 2; seq++) b.receive(frame(envelope("node-b", seq)));
    w.turn();
    expect(w.groups).toEqual([["a1", "a2", "a3"]]);
    expect([acks(a), acks(b)]).toEqual([[3], []]);
    // The rest waits for another turn: a flush is scheduled, not run inline.
    expect(w.scheduled).toHaveLength(1);
    w.turn();
    expect(w.groups.at(-1)).toEqual(["a4", "a5", "b1"]);
    w.turn();
    expect(w.groups.at(-1)).toEqual(["b2"]);
    expect(w.scheduled).toEqual([]);
    expect([acks(a), acks(b)]).toEqual([
      [3, 5],
      [1, 2],
    ]);
    expect(w.early).toEqual([]);
  });

  it("caps a group at maxBytes of frames, and still commits a bigger frame alone", () => {
    const small = envelope("node-a", 1);
    const bytes = Buffer.byteLength(frame(small));
    const w = world({ maxBytes: Math.floor(bytes * 2.5) });
    const a = w.connect("node-a");
    for (let seq = 1; seq <= 4; seq++) a.receive(frame(envelope("node-a", seq)));
    a.receive(frame(envelope("node-a", 5, "y".repeat(bytes * 3))));
    a.receive(frame(envelope("node-a", 6)));
    w.flush();
    expect(w.groups).toEqual([["a1", "a2"], ["a3", "a4"], ["a5"], ["a6"]]);
    expect(acks(a)).toEqual([2, 4, 5, 6]);
    expect(w.onDisk("node-a")).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("acks nothing of a group the journal refuses, holds it, and commits it on a later tick", () => {
    const w = world();
    const a = w.connect("node-a");
    const b = w.connect("node-b");
    w.stall = true;
    a.receive(frame(envelope("node-a", 1)));
    a.receive(frame(envelope("node-a", 2)));
    b.receive(frame(envelope("node-b", 1)));
    w.flush();
    expect([acks(a), acks(b)]).toEqual([[], []]);
    expect([w.onDisk("node-a"), w.onDisk("node-b")]).toEqual([[], []]);
    expect(w.notices.map((notice) => notice.kind)).toEqual(["stalled"]);
    expect(w.passedOn).toEqual([]);

    w.hub.tick();
    expect(w.groups.at(-1)).toEqual(["a1", "b1"]);
    expect([acks(a), acks(b)]).toEqual([[], []]);

    w.stall = false;
    w.hub.tick();
    expect(w.groups.at(-1)).toEqual(["a1", "b1"]);
    expect([acks(a), acks(b)]).toEqual([[1], [1]]);
    expect(w.notices.map((notice) => notice.kind)).toEqual(["stalled", "resumed"]);
    // node-a's second event was not committed: its agent is asked to redial and resend it.
    expect(a.closedWith?.code).toBe(CLOSE.tryAgainLater);
    expect(b.closedWith).toBeUndefined();
    const again = w.connect("node-a");
    again.receive(frame(envelope("node-a", 2)));
    w.flush();
    expect(acks(again)).toEqual([2]);
    expect(w.onDisk("node-a")).toEqual([1, 2]);
    expect(w.passedOn.map(label)).toEqual(["a1", "b1", "a2"]);
    expect(w.early).toEqual([]);
    expect(w.reports).toEqual([]);
  });

  it("retries held events in groups of at most maxEvents, stopping at the first group still refused", () => {
    const w = world({ maxEvents: 2 });
    const sockets = HOSTS.map((host) => w.connect(host));
    w.stall = true;
    sockets.forEach((ws, i) => {
      ws.receive(frame(envelope(HOSTS[i]!, 1)));
    });
    w.flush();
    expect(w.groups).toEqual([["a1", "b1"], ["c1"]]);
    w.hub.tick();
    expect(w.groups.slice(2)).toEqual([["a1", "b1"]]);
    w.stall = false;
    w.hub.tick();
    expect(w.groups.slice(3)).toEqual([["a1", "b1"], ["c1"]]);
    expect(sockets.map(acks)).toEqual([[1], [1], [1]]);
    expect(w.notices).toEqual([
      expect.objectContaining({ kind: "stalled" }),
      { kind: "resumed", afterMs: 0, failedCommits: 3 },
    ]);
  });

  it("counts a stalled connection's events still queued behind the refused group, so its agent resends them", () => {
    const w = world({ maxEvents: 1 });
    const a = w.connect("node-a");
    w.stall = true;
    a.receive(frame(envelope("node-a", 1)));
    a.receive(frame(envelope("node-a", 2)));
    w.flush();
    // a2 never reached the journal: it was queued behind the refused group and dropped with it.
    expect(w.groups).toEqual([["a1"]]);
    w.stall = false;
    w.hub.tick();
    expect(acks(a)).toEqual([1]);
    expect(a.closedWith?.code).toBe(CLOSE.tryAgainLater);
    expect(w.onDisk("node-a")).toEqual([1]);
  });

  it("drops only the connection whose replay conflicts; what came before it commits, what came after does not", () => {
    const w = world();
    const a = w.connect("node-a");
    const b = w.connect("node-b");
    a.receive(frame(envelope("node-a", 1)));
    a.receive(frame(envelope("node-a", 2)));
    b.receive(frame(envelope("node-b", 1)));
    a.receive(frame(envelope("node-a", 1, "rewritten")));
    a.receive(frame(envelope("node-a", 3)));
    b.receive(frame(envelope("node-b", 2)));
    w.flush();
    expect(w.groups).toEqual([["a1", "a2", "b1", "a1", "a3", "b2"]]);
    expect(w.onDisk("node-a")).toEqual([1, 2]);
    expect(w.onDisk("node-b")).toEqual([1, 2]);
    expect(acks(a)).toEqual([2]);
    expect(a.closedWith?.code).toBe(CLOSE.policy);
    expect(acks(b)).toEqual([2]);
    expect(b.closedWith).toBeUndefined();
    expect(w.reports.map((error) => [error.code, error.context["host"]])).toEqual([
      ["AGENT_PROTOCOL_VIOLATION", "node-a"],
    ]);
    expect(w.reports[0]?.message).toMatch(/journal refused seq 1: JOURNAL_CONFLICT/);
    expect(w.passedOn.map(label)).toEqual(["a1", "a2", "b1", "b2"]);
  });

  it("commits and acks what a connection queued before a protocol violation, then drops it", () => {
    const w = world();
    const a = w.connect("node-a");
    const b = w.connect("node-b");
    b.receive(frame(envelope("node-b", 1)));
    a.receive(frame(envelope("node-a", 1)));
    a.receive(frame(envelope("node-a", 2)));
    a.receive(frame(envelope("node-a", 9)));
    // At once, alone: node-a's two events, acked before the close; node-b's waits for the flush.
    expect(w.groups).toEqual([["a1", "a2"]]);
    expect(acks(a)).toEqual([2]);
    expect(a.closedWith?.code).toBe(CLOSE.policy);
    expect(w.reports[0]?.message).toMatch(/seq gap: got 9 after 2/);
    expect(acks(b)).toEqual([]);
    w.flush();
    expect(w.groups).toEqual([["a1", "a2"], ["b1"]]);
    expect(acks(b)).toEqual([1]);
    expect(w.early).toEqual([]);
  });

  it("neither journals nor acks the queued events of a connection revoked before the flush", () => {
    const w = world();
    const a = w.connect("node-a");
    a.receive(frame(envelope("node-a", 1)));
    expect(w.hub.revokeLive("node-a")).toBe(true);
    w.flush();
    expect(w.groups).toEqual([]);
    expect(w.onDisk("node-a")).toEqual([]);
    expect(acks(a)).toEqual([]);
    expect(a.of("reject")).toMatchObject([{ code: "REVOKED" }]);
  });

  it("by default commits what one turn of the event loop read, on the next turn", async () => {
    const w = world({ manual: false });
    const a = w.connect("node-a");
    const b = w.connect("node-b");
    for (let seq = 1; seq <= 3; seq++) {
      a.receive(frame(envelope("node-a", seq)));
      b.receive(frame(envelope("node-b", seq)));
    }
    expect(acks(a)).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(w.groups).toEqual([["a1", "b1", "a2", "b2", "a3", "b3"]]);
    expect([acks(a), acks(b)]).toEqual([[3], [3]]);
    expect(w.early).toEqual([]);
  });
});
