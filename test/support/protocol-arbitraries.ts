import fc from "fast-check";
import type { AgentEvent, AgentMessage, EventEnvelope, ServerMessage } from "../../shared/protocol.js";
import { hostileText } from "./fuzz.js";

/** fast-check arbitraries of the wire protocol's real message shapes (shared/protocol.ts), inside their bounds. */

export const stepId = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,63}$/);
export const runId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const hostName = fc.string({ unit: "binary", minLength: 1, maxLength: 253 });
const count = fc.nat({ max: 1_000_000 });
const duration = fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true });
export const iso = fc
  .date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2099-12-31T23:59:59Z"), noInvalidDate: true })
  .map((date) => date.toISOString());

/** Every kind of agent event, with fields anywhere inside their bounds and hostile text. */
export const agentEvent: fc.Arbitrary<AgentEvent> = fc.oneof(
  fc.record({ kind: fc.constant("run.started"), action: fc.constantFrom("apply", "undo"), steps: count }),
  fc.record({
    kind: fc.constant("step.started"),
    stepId,
    title: hostileText(200),
    index: count,
    total: count,
  }),
  fc.record({ kind: fc.constant("step.skipped"), stepId, reason: hostileText(8000) }),
  fc.record({
    kind: fc.constant("step.succeeded"),
    stepId,
    durationMs: duration,
    changes: fc.array(hostileText(8000), { maxLength: 5 }),
  }),
  fc.record({
    kind: fc.constant("step.failed"),
    stepId,
    durationMs: duration,
    error: fc.record({ code: fc.string({ maxLength: 64 }), message: hostileText(4000) }),
  }),
  fc.record(
    {
      kind: fc.constant("step.progress"),
      stepId,
      message: hostileText(8000),
      bytesDone: count,
      bytesTotal: count,
    },
    { requiredKeys: ["kind", "stepId"] },
  ),
  fc.record({
    kind: fc.constant("step.log"),
    stepId,
    stream: fc.constantFrom("stdout", "stderr", "info"),
    line: hostileText(8000),
  }),
  fc.record({
    kind: fc.constant("run.finished"),
    outcome: fc.constantFrom("succeeded", "failed"),
    succeeded: count,
    skipped: count,
    failed: count,
  }),
);

export const envelope: fc.Arbitrary<EventEnvelope> = fc.record({
  runId,
  host: hostName,
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  at: iso,
  event: agentEvent,
});

export const agentMessage: fc.Arbitrary<AgentMessage> = fc.oneof(
  fc.record({
    type: fc.constant("hello"),
    protocol: fc.integer(),
    agentVersion: fc.string({ maxLength: 64 }),
    host: hostName,
    runId,
  }),
  fc.record({ type: fc.constant("event"), envelope }),
);

/** Parameter names, including the ones that mean something to JavaScript objects. */
const paramKey = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom("constructor", "toString", "valueOf"),
);

export const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
  fc.record({
    type: fc.constant("welcome"),
    protocol: fc.integer(),
    ackedSeq: fc.nat(),
    plan: fc.record({
      runId,
      host: hostName,
      action: fc.constantFrom("apply", "undo"),
      steps: fc.array(
        fc.record({
          id: stepId,
          title: fc.string({ maxLength: 200 }),
          params: fc.dictionary(paramKey, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
        }),
        { maxLength: 4 },
      ),
    }),
  }),
  fc.record({ type: fc.constant("ack"), runId, seq: fc.integer({ min: 1 }) }),
  fc.record({
    type: fc.constant("reject"),
    code: fc.constantFrom("PROTOCOL_MISMATCH", "UNKNOWN_RUN", "HOST_MISMATCH", "DUPLICATE_AGENT", "REVOKED"),
    message: hostileText(8000),
  }),
);
