import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  agentMessageSchema,
  parseAgentMessage,
  parseServerMessage,
  serverMessageSchema,
  type ParseResult,
} from "../../shared/protocol.js";
import { CONTROL_CHARACTER, fuzzParams } from "../support/fuzz.js";
import { agentMessage, serverMessage } from "../support/protocol-arbitraries.js";

/**
 * Property tests of the wire protocol's parser (shared/protocol.ts). Whatever
 * arrives (arbitrary text, arbitrary JSON, valid frames mutated), a parse
 * returns, never throws, and either yields a message its schema accepts or a
 * short reason that quotes nothing of the frame. The connection-level
 * decisions (what drops a connection) are in fuzz-agent-connection.test.ts.
 */

/** Planted in mutated frames: a reason must never quote it. */
const MARK = "QX7MARK";

/** A JSON value that carries the mark somewhere: as text, inside an escape, as a key, in an array. */
const markedValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(MARK),
  fc.constant(`\u001b[2J${MARK}`),
  fc.constant(MARK.repeat(100)),
  fc.constant({ [MARK]: 1 }),
  fc.constant([MARK]),
  fc.jsonValue({ maxDepth: 3 }).map((value) => [value, MARK]),
);

/** One change to a JSON tree: set or delete a key, or replace a node, along a path chosen by `picks`. */
type Mutation =
  | { readonly op: "set"; readonly picks: readonly number[]; readonly key: string; readonly value: unknown }
  | { readonly op: "delete"; readonly picks: readonly number[] }
  | { readonly op: "replace"; readonly picks: readonly number[]; readonly value: unknown };

const picks = fc.array(fc.nat(), { maxLength: 6 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    op: fc.constant("set"),
    picks,
    key: fc.oneof(
      fc.string({ maxLength: 10 }),
      fc.constant(MARK),
      fc.constantFrom("__proto__", "type", "seq"),
    ),
    value: markedValue,
  }),
  fc.record({ op: fc.constant("delete"), picks }),
  fc.record({
    op: fc.constant("replace"),
    picks,
    value: fc.oneof(markedValue, fc.jsonValue({ maxDepth: 2 })),
  }),
);

/** Applies `change` to a deep copy of `value` (which came from JSON.parse). */
function mutate(value: unknown, change: Mutation): unknown {
  const copy: unknown = structuredClone(value);
  let parent: Record<string, unknown> | unknown[] | undefined;
  let key: string | number | undefined;
  let node = copy;
  for (const pick of change.picks) {
    if (node === null || typeof node !== "object") break;
    const children: (string | number)[] = Array.isArray(node)
      ? node.map((_, index) => index)
      : Object.keys(node);
    if (children.length === 0) break;
    const child = children[pick % children.length]!;
    parent = node as Record<string, unknown> | unknown[];
    key = child;
    node = Array.isArray(node) ? node[child as number] : (node as Record<string, unknown>)[child as string];
  }
  if (change.op === "set") {
    if (node !== null && typeof node === "object" && !Array.isArray(node)) {
      Object.defineProperty(node, change.key, { value: change.value, enumerable: true, writable: true });
    }
    return copy;
  }
  if (parent === undefined || key === undefined) return change.op === "replace" ? change.value : copy;
  if (change.op === "delete") {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else Reflect.deleteProperty(parent, key);
  } else if (Array.isArray(parent)) parent[key as number] = change.value;
  else parent[key as string] = change.value;
  return copy;
}

/** One change to a frame's text: cut, insert, overwrite or duplicate a slice. */
const textEdit = fc.record({
  at: fc.nat(),
  length: fc.nat({ max: 20 }),
  insert: fc.oneof(
    fc.string({ unit: "binary", maxLength: 8 }),
    fc.constantFrom(MARK, "\\", '"', "{", "]", "\\u"),
  ),
});

function editText(text: string, edit: { at: number; length: number; insert: string }): string {
  const at = edit.at % (text.length + 1);
  return text.slice(0, at) + edit.insert + text.slice(at + edit.length);
}

const REASON = /^(frame too large|frame is not JSON|invalid message at \S+: [^\n]+)$/;

/** What every parse must give: a message the schema accepts as it is, or a short reason quoting nothing. */
function expectWellBehaved(
  result: ParseResult<unknown>,
  schema: { safeParse(value: unknown): { success: boolean } },
  mustNotQuote = MARK,
): void {
  if (result.ok) {
    expect(schema.safeParse(result.value).success).toBe(true);
    return;
  }
  expect(result.error).toMatch(REASON);
  expect(result.error.length).toBeLessThanOrEqual(300);
  expect(result.error).not.toMatch(CONTROL_CHARACTER);
  expect(result.error).not.toContain(mustNotQuote);
}

const parsers = [
  { name: "agent", parse: parseAgentMessage, schema: agentMessageSchema },
  { name: "server", parse: parseServerMessage, schema: serverMessageSchema },
] as const;

describe("protocol parser under hostile input", () => {
  it.each(parsers)("$name: arbitrary text never throws and gets a short reason", ({ parse, schema }) => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 2000 }), (text) => {
        expectWellBehaved(parse(text), schema);
      }),
      fuzzParams(300),
    );
  });

  it.each(parsers)("$name: arbitrary JSON is a message or a reason", ({ parse, schema }) => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        expectWellBehaved(parse(JSON.stringify(value)), schema);
      }),
      fuzzParams(300),
    );
  });

  it("every valid message survives the wire unchanged, both directions", () => {
    fc.assert(
      fc.property(agentMessage, (message) => {
        expect(parseAgentMessage(JSON.stringify(message))).toEqual({ ok: true, value: message });
      }),
      fuzzParams(200),
    );
    fc.assert(
      fc.property(serverMessage, (message) => {
        const frame = JSON.stringify(message);
        const parsed = parseServerMessage(frame);
        // Parameters are free JSON: compare with what the wire carries (-0 travels as 0).
        const onTheWire: unknown = JSON.parse(frame);
        expect(parsed).toEqual({ ok: true, value: onTheWire });
        // What the agent acts on serializes back to the very same frame: nothing gained or lost.
        expect(JSON.stringify(parsed.ok ? parsed.value : undefined)).toBe(frame);
      }),
      fuzzParams(200),
    );
  });

  it("valid agent frames with one structural mutation: a valid message or a reason quoting nothing", () => {
    fc.assert(
      fc.property(agentMessage, fc.array(mutation, { minLength: 1, maxLength: 3 }), (message, changes) => {
        const mutated = changes.reduce<unknown>(
          (value, change) => mutate(value, change),
          JSON.parse(JSON.stringify(message)),
        );
        expectWellBehaved(parseAgentMessage(JSON.stringify(mutated)), agentMessageSchema);
      }),
      fuzzParams(400),
    );
  });

  it("valid server frames with one structural mutation: a valid message or a reason quoting nothing", () => {
    fc.assert(
      fc.property(serverMessage, fc.array(mutation, { minLength: 1, maxLength: 3 }), (message, changes) => {
        const mutated = changes.reduce<unknown>(
          (value, change) => mutate(value, change),
          JSON.parse(JSON.stringify(message)),
        );
        expectWellBehaved(parseServerMessage(JSON.stringify(mutated)), serverMessageSchema);
      }),
      fuzzParams(300),
    );
  });

  it("valid frames with their text cut and spliced: a valid message or a reason", () => {
    fc.assert(
      fc.property(agentMessage, fc.array(textEdit, { minLength: 1, maxLength: 4 }), (message, edits) => {
        const frame = edits.reduce((text, edit) => editText(text, edit), JSON.stringify(message));
        expectWellBehaved(parseAgentMessage(frame), agentMessageSchema);
      }),
      fuzzParams(400),
    );
  });

  it("a hostile value in an enum or an unknown key is not quoted back", () => {
    const hello = { type: "hello", protocol: 1, agentVersion: "x", host: "h", runId: "r" };
    for (const frame of [
      { ...hello, [`${MARK}\u001b[2J`]: 1 },
      {
        type: "event",
        envelope: {
          runId: "r",
          host: "h",
          seq: 1,
          at: "2030-01-01T00:00:00Z",
          event: { kind: "step.log", stepId: "a", stream: `${MARK}\u001b]0;x\u0007`, line: "" },
        },
      },
      { type: MARK.repeat(1000) },
    ]) {
      const parsed = parseAgentMessage(JSON.stringify(frame));
      expect(parsed.ok).toBe(false);
      expectWellBehaved(parsed, agentMessageSchema);
    }
  });

  it("refuses a __proto__ parameter instead of turning it into the parameters' prototype", () => {
    const frame =
      '{"type":"welcome","protocol":1,"ackedSeq":0,"plan":{"runId":"r","host":"h","action":"apply",' +
      '"steps":[{"id":"a","title":"t","params":{"__proto__":{"unseen":1}}}]}}';
    const parsed = parseServerMessage(frame);
    expect(parsed).toEqual({ ok: false, error: expect.stringContaining("plan.steps.0.params") as unknown });
  });

  it("counts the size cap in bytes, not characters, and never parses what is over it", () => {
    fc.assert(
      fc.property(fc.constantFrom("x", "é", "ノ", "😀"), fc.integer({ min: -8, max: 8 }), (pad, slack) => {
        const base = JSON.stringify({ type: "hello", protocol: 1, agentVersion: "", host: "h", runId: "r" });
        const padBytes = MAX_FRAME_BYTES - Buffer.byteLength(base) + slack;
        const reps = Math.floor(padBytes / Buffer.byteLength(pad));
        const frame = base.slice(0, -1) + `,"pad":"${pad.repeat(Math.max(reps, 0))}"}`;
        const parsed = parseAgentMessage(frame);
        if (Buffer.byteLength(frame) > MAX_FRAME_BYTES)
          expect(parsed).toEqual({ ok: false, error: "frame too large" });
        else expect(parsed.ok ? "" : parsed.error).toMatch(/^invalid message at \(root\)/);
      }),
      fuzzParams(24),
    );
  });

  it("deeply nested or degenerate frames under the cap return a reason, never a stack overflow", () => {
    const depth = 100_000;
    for (const frame of [
      "[".repeat(depth) + "]".repeat(depth),
      '{"a":'.repeat(depth / 4) + "1" + "}".repeat(depth / 4),
      `{"type":"event","envelope":${"[".repeat(depth / 2)}${"]".repeat(depth / 2)}}`,
      "\u0000".repeat(1000),
      "\ufeff{}",
      `"${"\\u0000".repeat(1000)}"`,
      "1e999999",
      "",
    ]) {
      expectWellBehaved(parseAgentMessage(frame), agentMessageSchema);
      expectWellBehaved(parseServerMessage(frame), serverMessageSchema);
    }
  });

  it("a message's own protocol version is data, checked by the connection, not the parser", () => {
    const parsed = parseAgentMessage(
      JSON.stringify({
        type: "hello",
        protocol: PROTOCOL_VERSION + 1,
        agentVersion: "",
        host: "h",
        runId: "r",
      }),
    );
    expect(parsed.ok).toBe(true);
  });
});
