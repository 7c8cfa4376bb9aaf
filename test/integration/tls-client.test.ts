import { createServer, type Server } from "node:https";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { AgentClient, type AgentClientOptions } from "../../agent/transport/agent-client.js";
import { backoffDelay } from "../../agent/transport/backoff.js";
import { realSchedule, type Schedule } from "../../agent/transport/timers.js";
import type { GroundcrewError } from "../../shared/errors.js";
import { PROTOCOL_VERSION, parseAgentMessage } from "../../shared/protocol.js";
import type { HostCertificate } from "../../server/pki/pki.js";
import { RUN, planFor, startServer, waitFor } from "../fixtures/tls/harness.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";

describe("exponential backoff with full jitter", () => {
  it("draws uniformly below min(cap, base·2^attempt)", () => {
    const top = (attempt: number) => backoffDelay(attempt, () => 0.999999);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20, 1000].map(top)).toEqual([
      499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999, 29999,
    ]);
    expect(backoffDelay(3, () => 0)).toBe(0);
    expect(backoffDelay(2, () => 0.5, { baseMs: 100, capMs: 300 })).toBe(150);
    expect(backoffDelay(0, () => 1)).toBeLessThan(500);
  });
});

describe("AgentClient", { timeout: 20_000 }, () => {
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

  function client(url: string, overrides: Partial<AgentClientOptions> = {}): AgentClient {
    const made = new AgentClient({
      url,
      tls: { cert: nodeA.certPem, key: nodeA.keyPem, ca: nodeA.caPem },
      identity: { host: "node-a", runId: RUN, agentVersion: "test" },
      onWelcome: () => undefined,
      onAck: () => undefined,
      onReject: () => undefined,
      onDisconnect: () => undefined,
      ...overrides,
    });
    cleanups.push(() => made.close());
    return made;
  }

  it("stops for good on reject, without redialing", async () => {
    const harness = await startServer(world, {
      onHello: () => ({ reject: "UNKNOWN_RUN", message: "no such run" }),
    });
    cleanups.push(() => harness.server.close());
    const rejects: string[] = [];
    let dials = 0;
    const counting: Schedule = (callback, ms) => {
      dials += 1;
      return realSchedule(callback, ms);
    };
    const agent = client(harness.url, {
      schedule: counting,
      pingIntervalMs: 10_000,
      onReject: (code, message) => rejects.push(`${code}: ${message}`),
    });
    agent.start();
    await waitFor(() => rejects.length === 1);
    expect(rejects).toEqual(["UNKNOWN_RUN: no such run"]);
    expect(agent.state).toBe("stopped");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(dials).toBe(1); // the liveness timer of the one connection; no redial
  });

  it("redials a refusing server with growing, capped, jittered waits, reporting each failure", async () => {
    const harness = await startServer(world, { hostNames: ["node-b"] });
    cleanups.push(() => harness.server.close());
    const waits: number[] = [];
    const errors: GroundcrewError[] = [];
    const recording: Schedule = (callback, ms) => {
      if (ms !== 10_000) waits.push(ms);
      return realSchedule(callback, ms);
    };
    const agent = client(harness.url, {
      schedule: recording,
      random: () => 0.5,
      backoff: { baseMs: 20, capMs: 80 },
      pingIntervalMs: 10_000,
      onError: (error) => errors.push(error),
    });
    agent.start();
    await waitFor(() => waits.length >= 5, 5000, "five redials");
    expect(waits.slice(0, 5)).toEqual([10, 20, 40, 40, 40]);
    expect(errors[0]?.code).toBe("AGENT_CONNECTION_FAILED");
    expect(errors[0]?.message).toMatch(/403/);
    expect(JSON.stringify(errors.map((error) => [error.message, error.context]))).not.toMatch(/PRIVATE KEY/);
  });

  it("drops and redials a server gone silent past the deadline", async () => {
    const fake = await silentServer(world);
    cleanups.push(() => fake.close());
    const errors: string[] = [];
    let welcomes = 0;
    let disconnects = 0;
    const agent = client(fake.url, {
      pingIntervalMs: 50,
      deadlineMs: 300,
      backoff: { baseMs: 10, capMs: 10 },
      onWelcome: () => {
        welcomes += 1;
      },
      onDisconnect: () => {
        disconnects += 1;
      },
      onError: (error) => errors.push(error.message),
    });
    agent.start();
    await waitFor(() => welcomes >= 2, 5000, "a second welcome after the deadline");
    expect(disconnects).toBeGreaterThanOrEqual(1);
    expect(errors.join("\n")).toMatch(/silent for more than 300 ms/);
    expect(fake.connections()).toBeGreaterThanOrEqual(2);
  });
});

/** A TLS WebSocket server that welcomes an agent, then never sends another byte (no pongs either). */
async function silentServer(
  world: TlsWorld,
): Promise<{ url: string; connections(): number; close(): Promise<void> }> {
  const https: Server = createServer({ ...world.server, ca: [world.server.ca], requestCert: true });
  const wss = new WebSocketServer({ server: https, autoPong: false });
  let connections = 0;
  wss.on("connection", (ws) => {
    connections += 1;
    ws.on("message", (data) => {
      const parsed = parseAgentMessage(Buffer.isBuffer(data) ? data.toString("utf8") : "");
      if (parsed.ok && parsed.value.type === "hello") {
        ws.send(
          JSON.stringify({
            type: "welcome",
            protocol: PROTOCOL_VERSION,
            ackedSeq: 0,
            plan: planFor("node-a"),
          }),
        );
      }
    });
  });
  await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
  const address = https.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `wss://127.0.0.1:${port}/agent`,
    connections: () => connections,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      https.closeAllConnections();
      await new Promise((resolve) => https.close(resolve));
    },
  };
}
