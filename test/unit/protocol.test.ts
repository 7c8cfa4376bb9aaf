import { describe, expect, it } from "vitest";
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
  parseServerMessage,
  type AgentMessage,
  type ServerMessage,
} from "../../shared/protocol.js";

const envelope = {
  runId: "r20261121-120000-ab12",
  host: "node1",
  seq: 1,
  at: "2026-11-21T12:00:00.000Z",
  event: {
    kind: "step.succeeded",
    stepId: "host.sysctl",
    durationMs: 12,
    changes: ["wrote /etc/sysctl.d/x"],
  },
};

const plan = {
  runId: "r1",
  host: "node1",
  action: "apply",
  steps: [{ id: "host.sysctl", title: "Kernel parameters", params: { ipv6: false } }],
};

describe("protocol messages", () => {
  it("accepts every well-formed message, both directions", () => {
    const agent: AgentMessage[] = [
      { type: "hello", protocol: PROTOCOL_VERSION, agentVersion: "0.1.0", host: "node1", runId: "r1" },
      { type: "event", envelope: envelope as AgentMessage extends { envelope: infer E } ? E : never },
    ];
    for (const message of agent)
      expect(parseAgentMessage(JSON.stringify(message))).toEqual({ ok: true, value: message });
    const server: ServerMessage[] = [
      {
        type: "welcome",
        protocol: PROTOCOL_VERSION,
        ackedSeq: 0,
        plan: plan as ServerMessage extends { plan: infer P } ? P : never,
      },
      { type: "ack", runId: "r1", seq: 7 },
      { type: "reject", code: "UNKNOWN_RUN", message: "run r0 is over" },
    ];
    for (const message of server)
      expect(parseServerMessage(JSON.stringify(message))).toEqual({ ok: true, value: message });
  });

  it("fills defaults: a plan step without params gets {}", () => {
    const bare = { ...plan, steps: [{ id: "host.swap-off", title: "Swap" }] };
    const parsed = parseServerMessage(
      JSON.stringify({ type: "welcome", protocol: 1, ackedSeq: 0, plan: bare }),
    );
    expect(
      parsed.ok && parsed.value.type === "welcome" ? parsed.value.plan.steps[0]?.params : undefined,
    ).toEqual({});
  });

  it.each([
    ["not JSON", "{nope", "frame is not JSON"],
    ["an unknown type", JSON.stringify({ type: "shell", command: "rm -rf /" }), "invalid message at type"],
    [
      "an extra field",
      JSON.stringify({ type: "hello", protocol: 1, agentVersion: "x", host: "a", runId: "r", admin: true }),
      "invalid message at (root)",
    ],
    [
      "seq 0",
      JSON.stringify({ type: "event", envelope: { ...envelope, seq: 0 } }),
      "invalid message at envelope.seq",
    ],
    [
      "a fractional seq",
      JSON.stringify({ type: "event", envelope: { ...envelope, seq: 1.5 } }),
      "envelope.seq",
    ],
    [
      "an unknown event kind",
      JSON.stringify({ type: "event", envelope: { ...envelope, event: { kind: "step.exploded" } } }),
      "envelope.event.kind",
    ],
    [
      "a run id with path characters",
      JSON.stringify({ type: "hello", protocol: 1, agentVersion: "x", host: "a", runId: "../../etc" }),
      "runId",
    ],
    [
      "a date that is not ISO",
      JSON.stringify({ type: "event", envelope: { ...envelope, at: "yesterday" } }),
      "envelope.at",
    ],
    [
      "a log line over the cap",
      JSON.stringify({
        type: "event",
        envelope: {
          ...envelope,
          event: { kind: "step.log", stepId: "x", stream: "stdout", line: "a".repeat(9000) },
        },
      }),
      "envelope.event.line",
    ],
    ["null", "null", "invalid message at (root)"],
  ])("refuses %s with a short reason", (_name, frame, reason) => {
    const parsed = parseAgentMessage(frame);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? "" : parsed.error).toContain(reason);
    expect(parsed.ok ? "" : parsed.error).not.toContain("rm -rf");
  });

  it("refuses frames over the size cap without parsing them", () => {
    const huge = JSON.stringify({ type: "ack", runId: "r1", seq: 1, pad: "x".repeat(MAX_FRAME_BYTES) });
    expect(parseServerMessage(huge)).toEqual({ ok: false, error: "frame too large" });
  });

  it("refuses a server message the agent must never act on", () => {
    expect(
      parseServerMessage(JSON.stringify({ type: "reject", code: "PLEASE_RUN_THIS", message: "" })).ok,
    ).toBe(false);
    expect(parseServerMessage(JSON.stringify({ type: "welcome", protocol: 1, ackedSeq: -1, plan })).ok).toBe(
      false,
    );
    expect(
      parseServerMessage(
        JSON.stringify({ type: "welcome", protocol: 1, ackedSeq: 0, plan: { ...plan, action: "format" } }),
      ).ok,
    ).toBe(false);
  });
});
