import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { HostCertificate } from "../../server/pki/pki.js";
import {
  dialOpen,
  startServer,
  waitFor,
  type RawAgent,
  type ServerHarness,
} from "../fixtures/tls/harness.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";

describe("agent channel over mutual TLS: the server's ping/pong deadline", { timeout: 20_000 }, () => {
  let world: TlsWorld;
  let nodeA: HostCertificate;
  let harness: ServerHarness;
  const agents: RawAgent[] = [];

  beforeAll(async () => {
    world = await makeTlsWorld();
    nodeA = await world.hostCert("node-a");
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) agent.ws.terminate();
    await harness.server.close();
  });
  afterAll(async () => {
    await world.dispose();
  });

  async function silentAgent(): Promise<RawAgent> {
    const agent = await dialOpen(harness.url, nodeA, world.caPem, { autoPong: false });
    agents.push(agent);
    agent.hello("node-a");
    await waitFor(() => agent.of("welcome").length === 1);
    return agent;
  }

  it("keeps an agent that answers pings, and terminates one silent past the deadline: host lost", async () => {
    harness = await startServer(world, { pingIntervalMs: 50, deadlineMs: 300 });
    const alive = await dialOpen(harness.url, await world.hostCert("node-b"), world.caPem);
    agents.push(alive);
    alive.hello("node-b");
    const started = Date.now();
    await silentAgent();
    await waitFor(() => harness.lost.length > 0, 3000, "host lost");
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(harness.lost).toEqual(["node-a"]);
    await waitFor(() => harness.disconnected.includes("node-a"));
    expect(harness.server.liveHosts()).toEqual(["node-b"]);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(alive.isOpen).toBe(true);
    expect(harness.lost).toEqual(["node-a"]);
  });

  it("closes a connection that never says hello, without calling its host lost", async () => {
    harness = await startServer(world, { pingIntervalMs: 50, deadlineMs: 300 });
    const mute = await dialOpen(harness.url, nodeA, world.caPem);
    agents.push(mute);
    expect((await mute.closed).code).toBe(1008);
    expect(harness.errors.map((error) => error.message).join()).toMatch(/no hello/);
    expect(harness.lost).toEqual([]);
  });

  it("replaces a live connection already silent past the deadline instead of refusing the newcomer", async () => {
    harness = await startServer(world, { pingIntervalMs: 60_000, deadlineMs: 200 });
    const stale = await silentAgent();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const fresh = await dialOpen(harness.url, nodeA, world.caPem);
    agents.push(fresh);
    fresh.hello("node-a");
    await waitFor(() => fresh.of("welcome").length === 1);
    await stale.closed;
    expect(harness.lost).toEqual(["node-a"]);
    expect(harness.errors.map((error) => error.code)).not.toContain("AGENT_DUPLICATE");
  });
});
