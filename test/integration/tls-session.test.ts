import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentClient, type Welcome } from "../../agent/transport/agent-client.js";
import type { HostCertificate } from "../../server/pki/pki.js";
import { MemorySink } from "../fixtures/tls/memory-sink.js";
import {
  RUN,
  dialOpen,
  envelope,
  startServer,
  waitFor,
  type ServerHarness,
} from "../fixtures/tls/harness.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";

describe("agent channel over mutual TLS: a good session", { timeout: 30_000 }, () => {
  let world: TlsWorld;
  let nodeA: HostCertificate;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    world = await makeTlsWorld();
    nodeA = await world.hostCert("node-a");
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await world.dispose();
  });

  async function server(options: Parameters<typeof startServer>[1] = {}): Promise<ServerHarness> {
    const harness = await startServer(world, options);
    cleanups.push(() => harness.server.close());
    return harness;
  }

  it("welcomes a good host, journals its events and acks them only after commit, cumulatively", async () => {
    const { url, sink, events, errors, server: agentServer } = await server();
    expect(agentServer.address().port).toBeGreaterThan(0);
    const agent = await dialOpen(url, nodeA, world.caPem);
    cleanups.push(async () => {
      agent.ws.terminate();
      await agent.closed;
    });
    agent.hello("node-a");
    await waitFor(() => agent.of("welcome").length === 1, 5000, "welcome");
    expect(agent.of("welcome")[0]).toMatchObject({ ackedSeq: 0, plan: { runId: RUN, host: "node-a" } });

    // Frames that arrive together are committed in one transaction and acked once, with the highest seq.
    for (let seq = 1; seq <= 5; seq++) agent.event(envelope("node-a", seq));
    await waitFor(() => agent.of("ack").at(-1)?.seq === 5, 5000, "acks");
    const first = agent.of("ack").map((ack) => ack.seq);
    expect(first).toEqual([...first].sort((a, b) => a - b));
    expect(sink.seqs(RUN, "node-a")).toEqual([1, 2, 3, 4, 5]);

    // A resend of committed events is a duplicate: acked again (cumulatively), not shown twice.
    agent.event(envelope("node-a", 2));
    await waitFor(() => agent.of("ack").length === first.length + 1, 5000, "the resend's ack");
    expect(agent.of("ack").at(-1)?.seq).toBe(5);
    agent.event(envelope("node-a", 6));
    await waitFor(() => agent.of("ack").at(-1)?.seq === 6, 5000, "acks");
    expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(errors).toEqual([]);
  });

  // A retryable journal failure (disk full) holds the event instead: test/integration/journal-disk-full.test.ts.
  it("acks nothing the sink did not commit, and closes with 1011 when the journal fails for good", async () => {
    const sink = new MemorySink();
    const { url, errors } = await server({ sink });
    const agent = await dialOpen(url, nodeA, world.caPem);
    agent.hello("node-a");
    await waitFor(() => agent.of("welcome").length === 1);
    agent.event(envelope("node-a", 1));
    await waitFor(() => agent.of("ack").length === 1);
    sink.failWith = new Error("SQLITE_FULL: database or disk is full");
    agent.event(envelope("node-a", 2));
    const closed = await agent.closed;
    expect(closed.code).toBe(1011);
    expect(agent.of("ack").map((ack) => ack.seq)).toEqual([1]);
    expect(errors.map((error) => error.code)).toEqual(["AGENT_JOURNAL_FAILED"]);
    expect(errors[0]?.retryable).toBe(true);
  });

  it("refuses a hello for an unknown run with the caller's reject", async () => {
    const { url } = await server();
    const agent = await dialOpen(url, nodeA, world.caPem);
    agent.hello("node-a", "run-other");
    expect((await agent.closed).code).toBe(1008);
    expect(agent.of("reject")).toEqual([
      { type: "reject", code: "UNKNOWN_RUN", message: "no run run-other" },
    ]);
  });

  it("AgentClient: sends hello, gets the plan, resends after ackedSeq; reconnects to a restarted server and resumes", async () => {
    const sink = new MemorySink();
    const first = await startServer(world, { sink });
    const port = first.server.address().port;
    const welcomes: Welcome[] = [];
    const acks: number[] = [];
    let disconnects = 0;
    const emitted = Array.from({ length: 8 }, (_, i) => envelope("node-a", i + 1));
    let available = 3;
    let acked = 0;
    const client = new AgentClient({
      url: first.url,
      tls: { cert: nodeA.certPem, key: nodeA.keyPem, ca: nodeA.caPem },
      identity: { host: "node-a", runId: RUN, agentVersion: "test" },
      backoff: { baseMs: 50, capMs: 200 },
      pingIntervalMs: 100,
      deadlineMs: 1000,
      // A stand-in for the outbox: after each welcome, resend everything after ackedSeq.
      onWelcome: (welcome) => {
        welcomes.push(welcome);
        for (const event of emitted.slice(welcome.ackedSeq, available)) client.send(event);
      },
      onAck: (seq) => {
        acks.push(seq);
        acked = Math.max(acked, seq);
      },
      onReject: () => {
        throw new Error("not expected");
      },
      onDisconnect: () => {
        disconnects += 1;
      },
    });
    cleanups.push(() => client.close());
    expect(client.send(emitted[0]!)).toBe(false);
    client.start();
    await waitFor(() => acked === 3, 5000, "first three acked");
    expect(welcomes[0]?.ackedSeq).toBe(0);
    expect(welcomes[0]?.plan.host).toBe("node-a");

    await first.server.close();
    await waitFor(() => disconnects === 1 && client.state !== "welcomed", 5000, "disconnect");
    expect(client.send(emitted[3]!)).toBe(false);
    available = 8;

    const second = await startServer(world, { sink, port });
    cleanups.push(() => second.server.close());
    await waitFor(() => acked === 8, 10_000, "resume on the new server");
    expect(welcomes.at(-1)?.ackedSeq).toBe(3);
    expect(sink.seqs(RUN, "node-a")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(second.events.map((event) => event.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(client.state).toBe("welcomed");
  });
});
