import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES } from "../../shared/protocol.js";
import type { HostCertificate } from "../../server/pki/pki.js";
import {
  RUN,
  dialOpen,
  envelope,
  planFor,
  startServer,
  waitFor,
  type RawAgent,
  type ServerHarness,
} from "../fixtures/tls/harness.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";

describe(
  "agent channel over mutual TLS: hostile frames drop only their connection",
  { timeout: 20_000 },
  () => {
    let world: TlsWorld;
    let certs: Record<"a" | "b", HostCertificate>;
    let harness: ServerHarness;
    const agents: RawAgent[] = [];

    beforeAll(async () => {
      world = await makeTlsWorld();
      certs = { a: await world.hostCert("node-a"), b: await world.hostCert("node-b") };
    });
    afterEach(async () => {
      for (const agent of agents.splice(0)) agent.ws.terminate();
      await harness.server.close();
    });
    afterAll(async () => {
      await world.dispose();
    });

    async function welcomed(which: "a" | "b"): Promise<RawAgent> {
      const agent = await dialOpen(harness.url, certs[which], world.caPem);
      agents.push(agent);
      agent.hello(`node-${which}`);
      await waitFor(() => agent.of("welcome").length === 1, 5000, "welcome");
      return agent;
    }

    /** node-b keeps being served: one more event of it is journaled and acked. */
    async function bStillServed(b: RawAgent): Promise<void> {
      const next = harness.sink.lastSeq(RUN, "node-b") + 1;
      b.event(envelope("node-b", next));
      await waitFor(() => b.of("ack").some((ack) => ack.seq === next), 5000, "node-b ack");
      expect(b.isOpen).toBe(true);
    }

    it("drops a host that sends an event about another host; the other host keeps working", async () => {
      harness = await startServer(world);
      const a = await welcomed("a");
      const b = await welcomed("b");
      b.event(envelope("node-b", 1));
      a.event(envelope("node-b", 2));
      expect((await a.closed).code).toBe(1008);
      expect(harness.errors.map((error) => error.code)).toEqual(["AGENT_PROTOCOL_VIOLATION"]);
      expect(harness.errors[0]?.context).toMatchObject({ host: "node-a" });
      expect(harness.errors[0]?.message).toMatch(/another host/);
      await bStillServed(b);
      expect(harness.sink.seqs(RUN, "node-b")).toEqual([1, 2]);
      expect(harness.sink.seqs(RUN, "node-a")).toEqual([]);
    });

    it("drops an oversize frame's connection (1009) only", async () => {
      harness = await startServer(world);
      const a = await welcomed("a");
      const b = await welcomed("b");
      a.ws.send("x".repeat(MAX_FRAME_BYTES + 1));
      expect((await a.closed).code).toBe(1009);
      expect(harness.errors[0]?.code).toBe("AGENT_PROTOCOL_VIOLATION");
      await bStillServed(b);
    });

    it("drops invalid JSON (1008), invalid UTF-8 (1007) and binary frames (1008), one connection each", async () => {
      harness = await startServer(world);
      const b = await welcomed("b");
      const json = await welcomed("a");
      json.ws.send("{ not json");
      expect((await json.closed).code).toBe(1008);
      const utf8 = await welcomed("a");
      utf8.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
      expect((await utf8.closed).code).toBe(1007);
      const binary = await welcomed("a");
      binary.ws.send(Buffer.from(JSON.stringify({ type: "event", envelope: envelope("node-a", 1) })), {
        binary: true,
      });
      expect((await binary.closed).code).toBe(1008);
      expect(harness.errors.map((error) => error.code)).toEqual([
        "AGENT_PROTOCOL_VIOLATION",
        "AGENT_PROTOCOL_VIOLATION",
        "AGENT_PROTOCOL_VIOLATION",
      ]);
      expect(harness.sink.calls).toEqual([]);
      await bStillServed(b);
    });

    it("drops a message before hello, a second hello, and an event of another run", async () => {
      harness = await startServer(world);
      const early = await dialOpen(harness.url, certs.a, world.caPem);
      agents.push(early);
      early.event(envelope("node-a", 1));
      expect((await early.closed).code).toBe(1008);

      const twice = await welcomed("a");
      twice.hello("node-a");
      expect((await twice.closed).code).toBe(1008);

      const otherRun = await welcomed("a");
      otherRun.event(envelope("node-a", 1, "run-2"));
      expect((await otherRun.closed).code).toBe(1008);
      expect(harness.sink.calls).toEqual([]);
      expect(harness.errors.map((error) => error.message).join("\n")).toMatch(
        /before hello[\s\S]*second hello[\s\S]*run-2/,
      );
    });

    it("rejects a hello that names another host or protocol", async () => {
      harness = await startServer(world);
      const liar = await dialOpen(harness.url, certs.a, world.caPem);
      agents.push(liar);
      liar.hello("node-b");
      expect((await liar.closed).code).toBe(1008);
      expect(liar.of("reject")).toMatchObject([{ code: "HOST_MISMATCH" }]);
      expect(liar.of("welcome")).toEqual([]);

      const old = await dialOpen(harness.url, certs.a, world.caPem);
      agents.push(old);
      old.hello("node-a", RUN, 0);
      expect((await old.closed).code).toBe(1008);
      expect(old.of("reject")).toMatchObject([{ code: "PROTOCOL_MISMATCH" }]);
    });

    it("drops a seq gap, whether the server or the journal sees it, and a conflicting replay", async () => {
      harness = await startServer(world);
      const gap = await welcomed("a");
      gap.event(envelope("node-a", 1));
      gap.event(envelope("node-a", 3));
      expect((await gap.closed).code).toBe(1008);
      expect(gap.of("ack").map((ack) => ack.seq)).toEqual([1]);
      expect(harness.sink.seqs(RUN, "node-a")).toEqual([1]);

      const replay = await welcomed("a");
      replay.event({ ...envelope("node-a", 1), at: new Date(0).toISOString() });
      expect((await replay.closed).code).toBe(1008);
      expect(harness.errors.at(-1)?.message).toMatch(/JOURNAL_CONFLICT/);
      await harness.server.close();

      // onHello claims more than the journal holds: the sink reports the gap.
      harness = await startServer(world, { onHello: (host) => ({ plan: planFor(host), ackedSeq: 4 }) });
      const sinkGap = await welcomed("a");
      sinkGap.event(envelope("node-a", 5));
      expect((await sinkGap.closed).code).toBe(1008);
      expect(sinkGap.of("ack")).toEqual([]);
      expect(harness.errors.at(-1)?.message).toMatch(/JOURNAL_GAP/);
    });

    it("takes a seq going backwards with the same event as a resend, and terminal escapes as plain data", async () => {
      harness = await startServer(world);
      const a = await welcomed("a");
      const hostile = {
        ...envelope("node-a", 2),
        event: {
          kind: "step.log" as const,
          stepId: "swap-off",
          stream: "stderr" as const,
          line: "\u001b]0;owned\u0007\u001b[2J\u009b31m done",
        },
      };
      a.event(envelope("node-a", 1));
      a.event(hostile);
      await waitFor(() => a.of("ack").at(-1)?.seq === 2, 5000, "the ack of 2");
      const before = a.of("ack").length;
      a.event(envelope("node-a", 1));
      await waitFor(() => a.of("ack").length === before + 1, 5000, "the resend's ack");
      expect(a.of("ack").at(-1)?.seq).toBe(2);
      expect(a.isOpen).toBe(true);
      expect(harness.errors).toEqual([]);
      expect(harness.events.map((event) => event.seq)).toEqual([1, 2]);
      expect(harness.sink.events.get(`${RUN}/node-a`)?.[1]).toEqual(hostile);
    });

    it("refuses a second live agent for one host (cloned identity) and keeps the first", async () => {
      harness = await startServer(world);
      const first = await welcomed("a");
      const clone = await dialOpen(harness.url, certs.a, world.caPem);
      agents.push(clone);
      expect((await clone.closed).code).toBe(1008);
      expect(clone.of("reject")).toMatchObject([{ code: "DUPLICATE_AGENT" }]);
      expect(harness.errors.map((error) => error.code)).toEqual(["AGENT_DUPLICATE"]);
      first.event(envelope("node-a", 1));
      await waitFor(() => first.of("ack").length === 1);
      expect(harness.server.liveHosts()).toEqual(["node-a"]);
    });
  },
);
