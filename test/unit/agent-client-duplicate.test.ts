import { describe, expect, it } from "vitest";
import { AgentClient, type AgentClientOptions } from "../../agent/transport/agent-client.js";
import { AgentHub } from "../../server/ws/agent-hub.js";
import type { GroundcrewError } from "../../shared/errors.js";
import { SeededRandom } from "../support/seeded-random.js";
import { SimClock } from "../support/sim-clock.js";
import { SimLink } from "../support/sim-link.js";

const RUN = "run-1";
const HOST = "node-a";
const DEADLINE = 3000;

/** One host, a hub, and a fault-free simulated link between them, in virtual time. */
function world() {
  const clock = new SimClock();
  const link = new SimLink(
    clock,
    { drop: 0, duplicate: 0, reorder: 0, delay: 0, replay: 0 },
    { minLatencyMs: 5, maxLatencyMs: 5, spikeMinMs: 0, spikeMaxMs: 0, closeHandshakeMs: 10 },
    () => new SeededRandom(1),
  );
  const reports: GroundcrewError[] = [];
  const hub = new AgentHub({
    sink: { append: () => "inserted", appendGroup: (envelopes) => envelopes.map(() => "inserted") },
    onHello: (host) => ({ plan: { runId: RUN, host, action: "apply", steps: [] }, ackedSeq: 0 }),
    report: (error) => reports.push(error),
    now: clock.now,
    deadlineMs: DEADLINE,
    closeGraceMs: 3_600_000,
    groupCommit: {
      schedule: (flush) => {
        clock.schedule(flush, 0);
      },
    },
  });
  const tick = (): void => {
    hub.tick();
    clock.schedule(tick, 1000);
  };
  clock.schedule(tick, 1000);
  link.serverUp({
    accept: (socket, host, id) => {
      hub.accept(socket, { host, serial: "01", remote: `sim#${String(id)}` });
    },
  });
  /** Runs tasks until `done` or virtual time `limitMs`. */
  const runUntil = (done: () => boolean, limitMs: number): void => {
    while (!done()) {
      const task = clock.take(limitMs);
      if (task === undefined) {
        clock.advanceTo(limitMs);
        return;
      }
      task();
    }
  };
  return { clock, link, hub, reports, runUntil };
}

interface Agent {
  readonly client: AgentClient;
  readonly welcomes: number[];
  readonly rejects: string[];
}

function agent(
  { clock, link }: ReturnType<typeof world>,
  overrides: Partial<AgentClientOptions> = {},
): Agent {
  const welcomes: number[] = [];
  const rejects: string[] = [];
  const timers = clock.group();
  const client = new AgentClient({
    url: "wss://provisioner.invalid/agent",
    tls: { cert: "", key: "", ca: "" },
    identity: { host: HOST, runId: RUN, agentVersion: "test" },
    pingIntervalMs: 1000,
    deadlineMs: DEADLINE,
    backoff: { baseMs: 100, capMs: 1000 },
    random: () => 0.5,
    now: clock.now,
    schedule: timers.schedule,
    openSocket: link.dialer(HOST),
    onWelcome: () => welcomes.push(clock.now()),
    onAck: () => undefined,
    onReject: (code) => rejects.push(code),
    onDisconnect: () => undefined,
    ...overrides,
  });
  client.start();
  return { client, welcomes, rejects };
}

describe("AgentClient and DUPLICATE_AGENT", () => {
  it("a restarted agent refused while the provisioner still holds its dead connection gets in once that is past the deadline", () => {
    const sim = world();
    const first = agent(sim);
    sim.runUntil(() => first.welcomes.length === 1, 10_000);
    // Power cut: the first agent's connection dies without a FIN; the hub still counts it live.
    sim.link.agentDown(HOST, false);
    const restartAt = sim.clock.now() + 500;
    sim.runUntil(() => false, restartAt);
    const second = agent(sim);
    sim.runUntil(() => second.welcomes.length === 1, restartAt + 60_000);

    expect(second.rejects).toEqual([]);
    expect(second.welcomes).toHaveLength(1);
    expect(second.client.state).toBe("welcomed");
    expect(sim.reports.map((error) => error.code)).toContain("AGENT_DUPLICATE");
    // It got in only once the hub had dropped the silent connection.
    expect(second.welcomes[0]).toBeGreaterThan(restartAt + DEADLINE - 500);
    expect(sim.hub.liveHosts()).toEqual([HOST]);
  });

  it("a clone of a live agent is refused each time and gives up after duplicateRetryMs; the live one stays", () => {
    const sim = world();
    const live = agent(sim);
    sim.runUntil(() => live.welcomes.length === 1, 10_000);
    const startedAt = sim.clock.now();
    const clone = agent(sim, { duplicateRetryMs: 10_000 });
    sim.runUntil(() => clone.rejects.length > 0, startedAt + 60_000);

    expect(clone.rejects).toEqual(["DUPLICATE_AGENT"]);
    expect(clone.welcomes).toEqual([]);
    expect(clone.client.state).toBe("stopped");
    expect(sim.clock.now() - startedAt).toBeGreaterThanOrEqual(10_000);
    const refusals = sim.reports.filter((error) => error.code === "AGENT_DUPLICATE").length;
    expect(refusals).toBeGreaterThan(1);
    expect(live.client.state).toBe("welcomed");
    expect(live.welcomes).toHaveLength(1);

    // Stopped for good: no more dials.
    sim.runUntil(() => false, sim.clock.now() + 60_000);
    expect(sim.reports.filter((error) => error.code === "AGENT_DUPLICATE")).toHaveLength(refusals);
  });
});
