import { z } from "zod";

/**
 * The wire protocol between agent and provisioner, one discriminated union
 * per direction. Every frame is validated on arrival with these schemas;
 * nothing is ever cast. Bump PROTOCOL_VERSION on any incompatible change: a
 * mismatched agent is refused (and replaced by `up`), never trusted.
 */
export const PROTOCOL_VERSION = 1;

/** Largest frame either side accepts, in bytes. Larger frames drop the connection. */
export const MAX_FRAME_BYTES = 1 << 20;

const hostName = z.string().min(1).max(253);
const runId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const stepId = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,63}$/);

/**
 * A step's parameters. A `__proto__` key is refused: copying it into the
 * parsed record would silently drop it and hand its value over as the
 * record's prototype, so the step would see parameters that are not there.
 */
const stepParams = z
  .unknown()
  .refine(
    (raw) => raw === undefined || raw === null || typeof raw !== "object" || !Object.hasOwn(raw, "__proto__"),
    "a __proto__ key is not allowed",
  )
  .pipe(z.record(z.string(), z.unknown()).default({}));

/** One step of a plan: a stable id (resume key), a title for humans, parameters for the step. */
export const planStepSchema = z
  .object({
    id: stepId,
    title: z.string().max(200),
    params: stepParams,
  })
  .strict();

/** What one host must do in one run, in order. `action` "apply" runs check/apply/verify; "undo" runs undo in reverse. */
export const planSchema = z
  .object({
    runId,
    host: hostName,
    action: z.enum(["apply", "undo"]),
    steps: z.array(planStepSchema).max(200),
  })
  .strict();

export type PlanStep = z.infer<typeof planStepSchema>;
export type Plan = z.infer<typeof planSchema>;

const errorInfo = z.object({ code: z.string().max(64), message: z.string().max(4000) }).strict();
const text = z.string().max(8000);

/**
 * Everything an agent reports, past tense. Tests assert sequences of these.
 * `step.progress` and `step.log` may be coalesced under pressure; state
 * changes (started, skipped, succeeded, failed, run.*) never are.
 */
export const agentEventSchema = z.discriminatedUnion("kind", [
  z
    .object({
      kind: z.literal("run.started"),
      action: z.enum(["apply", "undo"]),
      steps: z.number().int().min(0),
    })
    .strict(),
  z
    .object({
      kind: z.literal("step.started"),
      stepId,
      title: z.string().max(200),
      index: z.number().int().min(0),
      total: z.number().int().min(0),
    })
    .strict(),
  z.object({ kind: z.literal("step.skipped"), stepId, reason: text }).strict(),
  z
    .object({
      kind: z.literal("step.succeeded"),
      stepId,
      durationMs: z.number().min(0),
      /** What the step changed on the host, for humans ("wrote /etc/sysctl.d/90-groundcrew-k8s.conf"). */
      changes: z.array(text).max(100),
    })
    .strict(),
  z
    .object({ kind: z.literal("step.failed"), stepId, durationMs: z.number().min(0), error: errorInfo })
    .strict(),
  z
    .object({
      kind: z.literal("step.progress"),
      stepId,
      message: text.optional(),
      bytesDone: z.number().int().min(0).optional(),
      bytesTotal: z.number().int().min(0).optional(),
    })
    .strict(),
  z
    .object({ kind: z.literal("step.log"), stepId, stream: z.enum(["stdout", "stderr", "info"]), line: text })
    .strict(),
  z
    .object({
      kind: z.literal("run.finished"),
      outcome: z.enum(["succeeded", "failed"]),
      succeeded: z.number().int().min(0),
      skipped: z.number().int().min(0),
      failed: z.number().int().min(0),
    })
    .strict(),
]);

export type AgentEvent = z.infer<typeof agentEventSchema>;
export type AgentEventKind = AgentEvent["kind"];

/** An event as it travels and is journaled: (runId, host, seq) identifies it; seq starts at 1 per run and host. */
export const eventEnvelopeSchema = z
  .object({
    runId,
    host: hostName,
    seq: z.number().int().min(1),
    /** Agent clock, ISO 8601. */
    at: z.string().datetime(),
    event: agentEventSchema,
  })
  .strict();

export type EventEnvelope = z.infer<typeof eventEnvelopeSchema>;

/** Agent → provisioner. */
export const agentMessageSchema = z.discriminatedUnion("type", [
  z
    .object({
      type: z.literal("hello"),
      protocol: z.number().int(),
      agentVersion: z.string().max(64),
      host: hostName,
      runId,
    })
    .strict(),
  z.object({ type: z.literal("event"), envelope: eventEnvelopeSchema }).strict(),
]);

/** Provisioner → agent. */
export const serverMessageSchema = z.discriminatedUnion("type", [
  /** Reply to hello: the plan, and the highest seq already journaled (resend everything after it). */
  z
    .object({
      type: z.literal("welcome"),
      protocol: z.number().int(),
      ackedSeq: z.number().int().min(0),
      plan: planSchema,
    })
    .strict(),
  /** Cumulative: every event of (runId, this host) with seq ≤ `seq` is committed to the journal. */
  z.object({ type: z.literal("ack"), runId, seq: z.number().int().min(1) }).strict(),
  /** The provisioner refuses this agent or run; the agent must not retry with the same identity/run. */
  z
    .object({
      type: z.literal("reject"),
      code: z.enum(["PROTOCOL_MISMATCH", "UNKNOWN_RUN", "HOST_MISMATCH", "DUPLICATE_AGENT", "REVOKED"]),
      message: text,
    })
    .strict(),
]);

export type AgentMessage = z.infer<typeof agentMessageSchema>;
export type ServerMessage = z.infer<typeof serverMessageSchema>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Parses one text frame. Never throws: invalid JSON, an unknown type or a
 * field out of bounds is an `{ ok: false }` with a short reason (no echo of
 * the frame itself, which may be hostile).
 */
export function parseFrame<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, frame: string): ParseResult<T> {
  if (Buffer.byteLength(frame) > MAX_FRAME_BYTES) return { ok: false, error: "frame too large" };
  let json: unknown;
  try {
    json = JSON.parse(frame);
  } catch {
    return { ok: false, error: "frame is not JSON" };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  return {
    ok: false,
    error: `invalid message at ${issue === undefined ? "(root)" : issuePath(issue.path)}: ${issue === undefined ? "?" : describeIssue(issue)}`,
  };
}

/** An issue's path; a key that is not a plain name (a hostile frame's own key) shows as "?". */
function issuePath(path: readonly (string | number)[]): string {
  const parts = path.map((part) =>
    typeof part === "number" || /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(part) ? String(part) : "?",
  );
  return parts.join(".") || "(root)";
}

/**
 * What is wrong, in words that come from the schema only: zod quotes the
 * offending value for some issues (an enum member, unknown keys), and that
 * value is the peer's text, unbounded and possibly full of terminal escapes.
 */
function describeIssue(issue: z.ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.received === "undefined"
        ? "required"
        : `expected ${issue.expected}, got ${issue.received}`;
    case "invalid_literal":
      return `expected ${JSON.stringify(issue.expected)}`;
    case "invalid_enum_value":
    case "invalid_union_discriminator":
      return `expected one of ${issue.options.map((option) => JSON.stringify(option)).join(", ")}`;
    case "unrecognized_keys":
      return `${issue.keys.length} unknown key(s)`;
    case "too_big":
    case "too_small":
    case "invalid_string":
    case "not_multiple_of":
    case "not_finite":
    case "invalid_date":
    case "custom":
      return issue.message;
    default:
      return issue.code;
  }
}

export const parseAgentMessage = (frame: string): ParseResult<AgentMessage> =>
  parseFrame(agentMessageSchema, frame);
export const parseServerMessage = (frame: string): ParseResult<ServerMessage> =>
  parseFrame(serverMessageSchema, frame);

/** Exhaustive handler map: adding a message type fails to compile until every side handles it. */
export type Handlers<M extends { type: string }, R = void> = {
  [K in M["type"]]: (message: Extract<M, { type: K }>) => R;
};
