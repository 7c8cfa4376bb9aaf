import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { GroundcrewError } from "../../shared/errors.js";
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  type AgentEvent,
  type EventEnvelope,
} from "../../shared/protocol.js";
import { ProgressView, describeEvent, type ProgressMode } from "../../server/cli/progress/progress-view.js";
import { AgentConnection, CLOSE } from "../../server/ws/agent-connection.js";
import { GroupCommit } from "../../server/ws/group-commit.js";
import { FakeWebSocket } from "../fakes/fake-websocket.js";
import { MemorySink } from "../fixtures/tls/memory-sink.js";
import { CONTROL_CHARACTER, fuzzParams, hostileText } from "../support/fuzz.js";
import { agentEvent, iso } from "../support/protocol-arbitraries.js";

/**
 * Property tests of AgentConnection (server/ws/agent-connection.ts), where the
 * provisioner decides what a frame does to a connection, built on a fake
 * socket (test/fakes/fake-websocket.ts), the real GroupCommit and the
 * journal's contract (MemorySink). Events are committed in groups whenever
 * the test flushes (a turn of the event loop), in groups of at most a random
 * few. What the product specifies, and these tests hold it to:
 * - a binary frame, a frame that is not a valid message, a second hello, an
 *   event about another host or another run, or a seq gap drops the
 *   connection with 1008; a frame over MAX_FRAME_BYTES with 1009; invalid
 *   UTF-8 with 1007 (ws refuses it first on a real socket; the class refuses
 *   it too); the events queued before such a frame are committed and acked
 *   first, as if each had been committed on arrival;
 * - a seq going backwards is a resend: the very same event is acked again and
 *   not passed on twice; a different event under a committed seq is refused by
 *   the journal (JOURNAL_CONFLICT) and drops the connection, after what came
 *   before it committed, and nothing after it;
 * - an ack never covers an event the journal does not hold yet;
 * - text with terminal escapes is data: journaled byte for byte, and escaped
 *   wherever it is shown (ProgressView, `logs`).
 * Once dropped, nothing more is journaled or acked. The socket-level twin of
 * these cases is test/integration/tls-hostile.test.ts.
 */

const HOST = "node-a";
const RUN = "run-1";

interface Harness {
  readonly ws: FakeWebSocket;
  readonly sink: MemorySink;
  readonly errors: GroundcrewError[];
  readonly passedOn: EventEnvelope[];
  /** Acks that covered a seq the journal did not hold when they were sent. */
  readonly acksAhead: number[];
  /** Runs the scheduled group commits, as the event loop would between two turns. */
  readonly flush: () => void;
}

function connect(ackedSeq = 0, maxEvents?: number): Harness {
  const sink = new MemorySink();
  const acksAhead: number[] = [];
  const ws = new (class extends FakeWebSocket {
    override send(data: string): void {
      super.send(data);
      const sent = this.sent.at(-1);
      if (sent?.type === "ack" && sent.seq > sink.lastSeq(RUN, HOST)) acksAhead.push(sent.seq);
    }
  })();
  const errors: GroundcrewError[] = [];
  const passedOn: EventEnvelope[] = [];
  const scheduled: (() => void)[] = [];
  new AgentConnection(
    ws.socket,
    { host: HOST, serial: "01", remote: "192.0.2.1:40000" },
    {
      commits: new GroupCommit({
        sink,
        schedule: (flush) => scheduled.push(flush),
        ...(maxEvents === undefined ? {} : { maxEvents }),
      }),
      onHello: (host, hello) => ({
        plan: { runId: hello.runId, host, action: "apply", steps: [] },
        ackedSeq,
      }),
      onEvent: (envelope) => passedOn.push(envelope),
      report: (error) => errors.push(error),
      now: () => 0,
      closeGraceMs: 60_000,
    },
    () => undefined,
  );
  const flush = (): void => {
    for (let run = scheduled.shift(); run !== undefined; run = scheduled.shift()) run();
  };
  return { ws, sink, errors, passedOn, acksAhead, flush };
}

function hello(host = HOST, protocol = PROTOCOL_VERSION): string {
  return JSON.stringify({ type: "hello", protocol, agentVersion: "test", host, runId: RUN });
}

function eventFrame(envelope: EventEnvelope): string {
  return JSON.stringify({ type: "event", envelope });
}

/** One frame an agent may send after its welcome, described relative to what was sent so far; or a flush. */
type Move =
  | { readonly kind: "next"; readonly event: AgentEvent; readonly at: string }
  | { readonly kind: "resend"; readonly back: number }
  | { readonly kind: "rewrite"; readonly back: number; readonly event: AgentEvent }
  | { readonly kind: "gap"; readonly ahead: number }
  | { readonly kind: "other-host"; readonly host: string }
  | { readonly kind: "other-run" }
  | { readonly kind: "hello" }
  | { readonly kind: "garbage"; readonly text: string }
  | { readonly kind: "binary" }
  | { readonly kind: "oversize" }
  | { readonly kind: "bad-utf8"; readonly at: number }
  | { readonly kind: "flush" };

const move: fc.Arbitrary<Move> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("next"), event: agentEvent, at: iso }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("resend"), back: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("rewrite"), back: fc.nat(), event: agentEvent }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("gap"), ahead: fc.integer({ min: 2, max: 1000 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("other-host"),
      host: fc.string({ unit: "binary", minLength: 1, maxLength: 253 }).filter((host) => host !== HOST),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("other-run") }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("hello") }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("garbage"), text: hostileText(200) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("binary") }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("oversize") }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("bad-utf8"), at: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("flush") }) },
);

/** A frame that carries one byte sequence that is not UTF-8 (a lone continuation byte, an overlong form, a surrogate). */
function badUtf8Frame(envelope: EventEnvelope, at: number): Buffer {
  const text = eventFrame({
    ...envelope,
    event: { kind: "step.log", stepId: "a", stream: "stdout", line: "@" },
  });
  const bad = [[0xff], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]][at % 5]!;
  const [before, after] = text.split("@") as [string, string];
  return Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]);
}

/**
 * The model: what the product specifies, as if every event were committed
 * alone on arrival, except that a conflicting replay is only found when its
 * group commits. `journal` is what must be journaled (and passed on), in
 * order; `dropped` the close code once the connection must be dropped;
 * `acked` the seq the last ack must carry.
 */
class Model {
  readonly journal: EventEnvelope[] = [];
  /** Sent, not yet committed: each with whether the journal must refuse it (a rewrite). */
  readonly queued: { readonly envelope: EventEnvelope; readonly conflict: boolean }[] = [];
  /** The first content sent under each seq. */
  readonly content = new Map<number, EventEnvelope>();
  dropped: number | undefined;
  acked: number | undefined;

  get accepted(): number {
    return this.content.size;
  }

  /** The queued events commit (a flush, or a frame that drops the connection). */
  settle(): void {
    let anyCommitted = false;
    for (const { envelope, conflict } of this.queued.splice(0)) {
      if (conflict) {
        this.dropped ??= CLOSE.policy;
        break;
      }
      if (envelope.seq === this.journal.length + 1) this.journal.push(envelope);
      anyCommitted = true;
    }
    if (anyCommitted) this.acked = this.journal.length;
  }

  violation(code: number): void {
    this.settle();
    this.dropped ??= code;
  }
}

/** Sends the frame `step` describes (relative to `model`) and tells the model what it must lead to. */
function play(h: Harness, model: Model, step: Move): void {
  const at = "2030-01-01T00:00:00.000Z";
  const next = model.accepted + 1;
  switch (step.kind) {
    case "next": {
      const envelope = { runId: RUN, host: HOST, seq: next, at: step.at, event: step.event };
      model.content.set(envelope.seq, envelope);
      model.queued.push({ envelope, conflict: false });
      h.ws.receive(eventFrame(envelope));
      return;
    }
    case "resend": {
      if (model.accepted === 0) {
        play(h, model, { kind: "gap", ahead: 2 });
        return;
      }
      const envelope = model.content.get(1 + (step.back % model.accepted))!;
      model.queued.push({ envelope, conflict: false });
      h.ws.receive(eventFrame(envelope));
      return;
    }
    case "rewrite": {
      if (model.accepted === 0) {
        play(h, model, { kind: "gap", ahead: 2 });
        return;
      }
      const old = model.content.get(1 + (step.back % model.accepted))!;
      const changed = { ...old, event: step.event, at: old.at === at ? "2030-01-02T00:00:00.000Z" : at };
      model.queued.push({ envelope: changed, conflict: true });
      h.ws.receive(eventFrame(changed));
      return;
    }
    case "gap":
      model.violation(CLOSE.policy);
      h.ws.receive(eventFrame({ runId: RUN, host: HOST, seq: next - 1 + step.ahead, at, event: logEvent }));
      return;
    case "other-host":
      model.violation(CLOSE.policy);
      h.ws.receive(eventFrame({ runId: RUN, host: step.host, seq: next, at, event: logEvent }));
      return;
    case "other-run":
      model.violation(CLOSE.policy);
      h.ws.receive(eventFrame({ runId: "run-2", host: HOST, seq: next, at, event: logEvent }));
      return;
    case "hello":
      model.violation(CLOSE.policy);
      h.ws.receive(hello());
      return;
    case "garbage":
      model.violation(CLOSE.policy);
      // A leading "#" keeps it from ever being JSON.
      h.ws.receive(`#${step.text}`);
      return;
    case "binary":
      model.violation(CLOSE.policy);
      h.ws.receive(eventFrame({ runId: RUN, host: HOST, seq: next, at, event: logEvent }), true);
      return;
    case "oversize":
      model.violation(CLOSE.tooBig);
      h.ws.receive(Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20));
      return;
    case "bad-utf8":
      model.violation(CLOSE.invalidData);
      h.ws.receive(badUtf8Frame({ runId: RUN, host: HOST, seq: next, at, event: logEvent }, step.at));
      return;
    case "flush":
      model.settle();
      h.flush();
      return;
  }
}

const logEvent: AgentEvent = { kind: "step.log", stepId: "a", stream: "stdout", line: "x" };

describe("AgentConnection under hostile frames (model-based)", () => {
  it("acks exactly the committed events, drops at the first violation with the specified code, then ignores everything", () => {
    fc.assert(
      fc.property(
        fc.array(move, { maxLength: 25 }),
        fc.array(move, { maxLength: 5 }),
        fc.integer({ min: 1, max: 6 }),
        (moves, after, maxEvents) => {
          const h = connect(0, maxEvents);
          h.ws.receive(hello());
          expect(h.ws.of("welcome")).toHaveLength(1);
          const model = new Model();
          for (const step of moves) {
            play(h, model, step);
            if (model.dropped !== undefined) break;
            expect(h.ws.closedWith).toBeUndefined();
          }
          play(h, model, { kind: "flush" });
          const acks = h.ws.of("ack").map((ack) => ack.seq);
          const journaled = h.sink.events.get(`${RUN}/${HOST}`) ?? [];
          // Whatever else came, the journal holds 1..n exactly as first sent, and onEvent saw each once.
          expect(journaled).toEqual(model.journal);
          expect(h.passedOn).toEqual(model.journal);
          expect(h.acksAhead).toEqual([]);
          expect(acks).toEqual([...acks].sort((a, b) => a - b));
          expect(acks.at(-1)).toBe(model.acked);
          if (model.dropped === undefined) {
            expect(h.ws.closedWith).toBeUndefined();
            expect(h.errors).toEqual([]);
          } else {
            expect(h.ws.closedWith?.code).toBe(model.dropped);
            expect(h.errors.map((error) => error.code)).toEqual(["AGENT_PROTOCOL_VIOLATION"]);
            expect(h.errors[0]?.context).toMatchObject({ host: HOST });
            // Nothing after the drop is journaled, acked or reported.
            const before = { acks: acks.length, calls: h.sink.calls.length };
            const ghost = new Model();
            for (const [seq, envelope] of model.content) ghost.content.set(seq, envelope);
            for (const step of after) play(h, ghost, step);
            h.flush();
            expect(h.ws.of("ack")).toHaveLength(before.acks);
            expect(h.sink.calls).toHaveLength(before.calls);
            expect(h.errors).toHaveLength(1);
          }
        },
      ),
      fuzzParams(250),
    );
  });

  it("a hello naming another host is rejected (HOST_MISMATCH) and nothing of it is journaled", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", minLength: 1, maxLength: 253 }).filter((host) => host !== HOST),
        fc.array(fc.record({ event: agentEvent, at: iso }), { maxLength: 3 }),
        (claimed, events) => {
          const h = connect();
          h.ws.receive(hello(claimed));
          events.forEach(({ event, at }, index) => {
            h.ws.receive(eventFrame({ runId: RUN, host: claimed, seq: index + 1, at, event }));
          });
          expect(h.ws.of("reject")).toMatchObject([{ code: "HOST_MISMATCH" }]);
          expect(h.ws.closedWith?.code).toBe(CLOSE.policy);
          expect(h.ws.of("welcome")).toEqual([]);
          expect(h.sink.calls).toEqual([]);
          // The claimed name is quoted only as JSON, so no raw control character reaches a report.
          expect(h.errors.map((error) => error.message).join("\n")).not.toMatch(CONTROL_CHARACTER);
        },
      ),
      fuzzParams(150),
    );
  });

  it("an event before hello, or a hello of another protocol, drops the connection with nothing journaled", () => {
    fc.assert(
      fc.property(
        agentEvent,
        fc.integer().filter((version) => version !== PROTOCOL_VERSION),
        (event, version) => {
          const early = connect();
          early.ws.receive(eventFrame({ runId: RUN, host: HOST, seq: 1, at: "2030-01-01T00:00:00Z", event }));
          expect(early.ws.closedWith?.code).toBe(CLOSE.policy);
          expect(early.sink.calls).toEqual([]);

          const old = connect();
          old.ws.receive(hello(HOST, version));
          expect(old.ws.of("reject")).toMatchObject([{ code: "PROTOCOL_MISMATCH" }]);
          expect(old.sink.calls).toEqual([]);
        },
      ),
      fuzzParams(100),
    );
  });

  it("after a reconnect, a resend from below the welcome's ackedSeq is a duplicate, not a gap", () => {
    const h = connect(2);
    const events = [1, 2, 3].map((seq): EventEnvelope => ({
      runId: RUN,
      host: HOST,
      seq,
      at: "2030-01-01T00:00:00.000Z",
      event: logEvent,
    }));
    h.sink.append(events[0]!);
    h.sink.append(events[1]!);
    h.ws.receive(hello());
    for (const envelope of [events[1]!, events[0]!, events[2]!]) h.ws.receive(eventFrame(envelope));
    expect(h.ws.of("ack")).toEqual([]);
    h.flush();
    // One transaction for the three frames, one ack for all of them.
    expect(h.sink.groups.map((group) => group.map((envelope) => envelope.seq))).toEqual([[2, 1, 3]]);
    expect(h.ws.of("ack").map((ack) => ack.seq)).toEqual([3]);
    expect(h.passedOn.map((envelope) => envelope.seq)).toEqual([3]);
    expect(h.ws.closedWith).toBeUndefined();
  });

  it("an error ws raises itself (invalid UTF-8, over maxPayload) is reported, and later frames are ignored", () => {
    const h = connect();
    h.ws.receive(hello());
    h.ws.failFrame("Invalid UTF-8 sequence");
    h.ws.receive(eventFrame({ runId: RUN, host: HOST, seq: 1, at: "2030-01-01T00:00:00Z", event: logEvent }));
    h.flush();
    expect(h.errors.map((error) => error.code)).toEqual(["AGENT_PROTOCOL_VIOLATION"]);
    expect(h.errors[0]?.message).toMatch(/invalid frame: Invalid UTF-8/);
    expect(h.sink.calls).toEqual([]);
  });
});

/** The cursor movements ProgressView itself writes in tty mode: up N lines, clear the line. */
// eslint-disable-next-line no-control-regex
const VIEW_ESCAPES = /\u001b\[\d+F|\u001b\[2K/g;

describe("host text with terminal escapes", () => {
  const modes: ProgressMode[] = ["lines", "tty"];

  it("is journaled byte for byte and never reaches the terminal raw", () => {
    fc.assert(
      fc.property(
        fc.array(agentEvent, { minLength: 1, maxLength: 6 }),
        fc.constantFrom(...modes),
        (events, mode) => {
          const h = connect();
          h.ws.receive(hello());
          const envelopes = events.map((event, index): EventEnvelope => ({
            runId: RUN,
            host: HOST,
            seq: index + 1,
            at: "2030-01-01T00:00:00.000Z",
            event,
          }));
          for (const envelope of envelopes) h.ws.receive(eventFrame(envelope));
          h.flush();
          expect(h.sink.events.get(`${RUN}/${HOST}`)).toEqual(envelopes);

          let screen = "";
          const view = new ProgressView([HOST], { write: (text) => (screen += text) }, mode, () => 0);
          for (const envelope of h.passedOn) view.event(envelope);
          view.close();
          // The view's own cursor movements are the only escapes allowed; lines end in \n.
          const own = screen.replace(VIEW_ESCAPES, "").replace(/\n/g, "");
          expect(own).not.toMatch(CONTROL_CHARACTER);
          for (const envelope of envelopes) expect(describeEvent(envelope)).not.toMatch(CONTROL_CHARACTER);
        },
      ),
      fuzzParams(150),
    );
  });
});
