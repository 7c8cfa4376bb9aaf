import { VERSION } from "../../../shared/version.js";
import { AgentClient } from "../../../agent/transport/agent-client.js";
import { summarize } from "../report/stats.js";
import { agentsRequestSchema, type AgentsRequest } from "./agents-protocol.js";
import { benchEnvelope } from "./events.js";
import { serveRequests } from "./ipc.js";
import { processStats } from "./process-stats.js";

/**
 * Simulated agents, all in this one process: each is the agent's real
 * AgentClient (mutual TLS with its own host certificate, hello, welcome,
 * acks, redial with backoff) driven by a small sender instead of the
 * on-disk outbox, since an agent's own fsyncs happen on its own machine and
 * are not the provisioner's cost. Like OutboxDelivery it resends everything
 * after the welcome's ackedSeq when a connection is replaced; unlike it, it
 * keeps at most `window` events unacknowledged.
 */

const MAX_ERROR_KINDS = 20;
const now = (): number => performance.now();

class SimAgent {
  readonly client: AgentClient;
  dialedAt = 0;
  welcomedAt: number | undefined;
  acked = 0;
  next = 1;
  target = 0;
  window = 1;
  sentAt: number[] = [];
  onCaughtUp: (() => void) | undefined;

  constructor(
    readonly host: string,
    private readonly runId: string,
    url: string,
    tls: { cert: string; key: string; ca: string },
    private readonly shared: Shared,
  ) {
    this.client = new AgentClient({
      url,
      tls,
      identity: { host, runId, agentVersion: VERSION },
      onWelcome: (welcome) => {
        if (this.welcomedAt === undefined) {
          this.welcomedAt = now();
          shared.welcomed();
        }
        this.acked = Math.max(this.acked, welcome.ackedSeq);
        this.next = this.acked + 1;
        this.pump();
      },
      onAck: (seq) => {
        const at = now();
        for (let s = this.acked + 1; s <= seq; s++) shared.latencies.push(at - (this.sentAt[s] ?? at));
        this.acked = Math.max(this.acked, seq);
        if (this.acked >= this.target) this.onCaughtUp?.();
        else this.pump();
      },
      onReject: (code) => {
        shared.error(`reject ${code}`);
      },
      onDisconnect: () => {
        shared.disconnects += 1;
      },
      onError: (error) => {
        shared.error(error.message.replace(host, "HOST"));
      },
    });
  }

  pump(): void {
    while (this.next <= this.target && this.next - 1 - this.acked < this.window) {
      this.sentAt[this.next] = now();
      if (!this.client.send(benchEnvelope(this.runId, this.host, this.next))) return;
      this.next += 1;
    }
  }

  /** Sends events up to seq `target`, resolving when all are acked. */
  streamTo(target: number, window: number): Promise<void> {
    this.target = target;
    this.window = window;
    return new Promise((resolve) => {
      if (this.acked >= target) {
        resolve();
        return;
      }
      this.onCaughtUp = resolve;
      this.pump();
    });
  }
}

class Shared {
  latencies: number[] = [];
  disconnects = 0;
  errorCounts: Record<string, number> = {};
  #welcomes = 0;
  #allWelcomed: () => void = () => undefined;
  #expected = 0;

  error(kind: string): void {
    const key =
      kind in this.errorCounts || Object.keys(this.errorCounts).length < MAX_ERROR_KINDS ? kind : "other";
    this.errorCounts[key] = (this.errorCounts[key] ?? 0) + 1;
  }

  welcomed(): void {
    this.#welcomes += 1;
    if (this.#welcomes >= this.#expected) this.#allWelcomed();
  }

  expectWelcomes(count: number): Promise<void> {
    this.#expected = count;
    return new Promise((resolve) => {
      this.#allWelcomed = resolve;
      if (this.#welcomes >= count) resolve();
    });
  }

  problems(): { errorCounts: Record<string, number>; disconnects: number } {
    const result = { errorCounts: { ...this.errorCounts }, disconnects: this.disconnects };
    this.errorCounts = {};
    this.disconnects = 0;
    return result;
  }
}

const shared = new Shared();
let agents: SimAgent[] = [];

function within(promise: Promise<void>, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function connect(request: Extract<AgentsRequest, { type: "connect" }>): Promise<object> {
  if (agents.length > 0) throw new Error("already connected");
  agents = request.hosts.map(
    ({ host, certPem }) =>
      new SimAgent(
        host,
        request.runId,
        request.url,
        { cert: certPem, key: request.keyPem, ca: request.caPem },
        shared,
      ),
  );
  const all = shared.expectWelcomes(agents.length);
  const started = now();
  for (const agent of agents) {
    agent.dialedAt = now();
    agent.client.start();
  }
  await within(all, request.timeoutMs);
  const welcomed = agents.filter((agent) => agent.welcomedAt !== undefined);
  const last = Math.max(started, ...welcomed.map((agent) => agent.welcomedAt ?? started));
  return {
    type: "connected",
    agents: agents.length,
    welcomed: welcomed.length,
    seconds: (welcomed.length === agents.length ? last - started : request.timeoutMs) / 1000,
    welcomeMs: summarize(welcomed.map((agent) => (agent.welcomedAt ?? 0) - agent.dialedAt)),
    ...shared.problems(),
    process: processStats(),
  };
}

async function stream(request: Extract<AgentsRequest, { type: "stream" }>): Promise<object> {
  shared.latencies = [];
  const before = agents.reduce((sum, agent) => sum + agent.acked, 0);
  const started = now();
  let finished = started;
  const done = Promise.all(
    agents.map((agent) => agent.streamTo(agent.target + request.events, request.window)),
  ).then(() => {
    finished = now();
  });
  await within(done, request.timeoutMs);
  const acked = agents.reduce((sum, agent) => sum + agent.acked, 0) - before;
  const expected = agents.length * request.events;
  return {
    type: "streamed",
    acked,
    expected,
    seconds: (acked === expected ? finished - started : request.timeoutMs) / 1000,
    ackMs: summarize(shared.latencies),
    ...shared.problems(),
    process: processStats(),
  };
}

async function handle(request: AgentsRequest): Promise<object> {
  switch (request.type) {
    case "connect":
      return connect(request);
    case "stream":
      return stream(request);
    case "stop":
      await Promise.all(agents.map((agent) => agent.client.close()));
      setImmediate(() => {
        process.disconnect();
      });
      return { type: "stopped" };
  }
}

serveRequests(agentsRequestSchema, handle);
