import path from "node:path";
import { localFs } from "../../agent/host/local-fs.js";
import { Outbox } from "../../agent/outbox/outbox.js";
import { OutboxDelivery } from "../../agent/outbox/outbox-delivery.js";
import { AgentClient } from "../../agent/transport/agent-client.js";
import type { AgentEvent, EventEnvelope } from "../../shared/protocol.js";
import { CrashableFs } from "./crashable-fs.js";
import { logicalIndex } from "./delivery-check.js";
import { MODEL_RUN, MODEL_TIMING, type ModelWorld } from "./model-world.js";
import type { SeededRandom } from "./seeded-random.js";
import type { TimerGroup } from "./sim-clock.js";

interface AgentProcess {
  readonly fs: CrashableFs;
  readonly timers: TimerGroup;
  /** Once opened: a process killed while opening it never gets it. */
  outbox: Outbox | undefined;
}

/** The k-th event of a host: several kinds, each naming k (see `logicalIndex`). */
function eventFor(host: string, k: number, total: number): AgentEvent {
  const stepId = `step-${String(Math.ceil(k / 20))}`;
  switch (k % 4) {
    case 1:
      return { kind: "step.started", stepId, title: `event ${String(k)}`, index: k, total };
    case 2:
      return {
        kind: "step.progress",
        stepId,
        message: `event ${String(k)}`,
        bytesDone: k,
        bytesTotal: total,
      };
    case 3:
      return { kind: "step.log", stepId, stream: "stdout", line: `event ${String(k)} of ${host}` };
    default:
      return { kind: "step.succeeded", stepId, durationMs: k, changes: [`event ${String(k)}`] };
  }
}

export interface ModelHostOptions {
  readonly name: string;
  readonly stateDir: string;
  /** Logical events to emit, numbered 1..total. */
  readonly total: number;
  /** Virtual ms between two events: uniform in [0, 2 × this]. */
  readonly emitGapMs: number;
  /** This host's own stream: event gaps, backoff jitter, file-operation latencies and what a kill does to them. */
  readonly random: SeededRandom;
}

/**
 * One host of the delivery model: the real agent code for delivery (Outbox
 * on a temp dir through a CrashableFs, OutboxDelivery, AgentClient dialing
 * through the SimLink) and an emitter standing in for the step runner,
 * which appends logical events 1..total. `kill` is `kill -9` (or a power
 * cut: then no FIN); the process comes back 0.1 s to 2 deadlines later,
 * re-opens its outbox from disk and carries on after the last event that
 * reached it. A final refusal ends the agent for good, as `serve` exits
 * EXIT_REFUSED and its unit does not restart it.
 */
export class ModelHost {
  /** Every envelope that reached the outbox on disk, in seq order: what the journal must end up holding. */
  readonly emitted: EventEnvelope[] = [];
  kills = 0;
  /** Kills with file operations in flight. */
  midIoKills = 0;
  welcomes = 0;
  #next = 1;
  #agentProcess: AgentProcess | undefined;
  #refused: string | undefined;

  constructor(
    private readonly world: ModelWorld,
    readonly options: ModelHostOptions,
  ) {}

  get name(): string {
    return this.options.name;
  }

  get outboxDir(): string {
    return path.join(this.options.stateDir, "outbox", MODEL_RUN);
  }

  /** The refusal that ended this agent, if one did. */
  get refused(): string | undefined {
    return this.#refused;
  }

  /** Every logical event was emitted (or the agent was refused for good). */
  get finished(): boolean {
    return this.#next > this.options.total || this.#refused !== undefined;
  }

  /** The live process's acked mark (0 while none runs). */
  get ackedSeq(): number {
    return this.#agentProcess?.outbox?.ackedSeq ?? 0;
  }

  /** A live process whose outbox is empty, with no file operation under way, and the journal at `committed`. */
  drained(committed: number): boolean {
    const agentProcess = this.#agentProcess;
    const last = this.emitted.at(-1)?.seq ?? 0;
    return agentProcess?.outbox?.ackedSeq === last && !agentProcess.fs.busy && committed === last;
  }

  /** Starts the agent process; what it does next happens in clock tasks. */
  boot(): void {
    this.#start().catch((error: unknown) => {
      this.world.problems.push(`${this.name}: the agent failed to start: ${String(error)}`);
    });
  }

  kill(): void {
    const agentProcess = this.#agentProcess;
    if (agentProcess === undefined) return;
    this.kills += 1;
    const toll = agentProcess.fs.kill();
    if (toll.landed + toll.lost + toll.torn > 0) this.midIoKills += 1;
    this.world.trace(
      `${this.name}: killed with ${String(toll.landed)} operation(s) landed, ${String(toll.lost)} lost, ${String(toll.torn)} torn`,
    );
    this.#died();
  }

  /** End of the run: nothing more is scheduled. */
  stop(): void {
    this.#agentProcess?.timers.cancelAll();
  }

  async #start(): Promise<void> {
    const { clock, link, disk, problems, trace } = this.world;
    const { random, stateDir, name } = this.options;
    const agentProcess: AgentProcess = {
      fs: new CrashableFs(localFs, clock, random, disk, { min: 1, max: 6 }),
      timers: clock.group(),
      outbox: undefined,
    };
    this.#agentProcess = agentProcess;
    const outbox = await Outbox.open(agentProcess.fs.fs, stateDir, MODEL_RUN, name, clock.date);
    agentProcess.outbox = outbox;
    // What reached the disk was emitted, even if the dead process never heard its write finish.
    const last = this.emitted.at(-1)?.seq ?? 0;
    if (outbox.lastSeq < last) {
      problems.push(
        `${name}: the outbox re-opened at seq ${String(outbox.lastSeq)}, but ${String(last)} was emitted`,
      );
    }
    this.emitted.push(...outbox.pending(last));
    const newest = this.emitted.at(-1);
    this.#next = newest === undefined ? 1 : logicalIndex(newest) + 1;
    trace(`${name}: started, outbox ${String(outbox.ackedSeq)} acked of ${String(outbox.lastSeq)}`);
    outbox.onAppend((envelope) => {
      this.emitted.push(envelope);
    });
    const client: AgentClient = new AgentClient({
      url: "wss://provisioner.invalid:7443/agent",
      tls: { cert: "", key: "", ca: "" },
      identity: { host: name, runId: MODEL_RUN, agentVersion: "model" },
      pingIntervalMs: MODEL_TIMING.pingIntervalMs,
      deadlineMs: MODEL_TIMING.deadlineMs,
      backoff: { baseMs: 100, capMs: 2000 },
      random: () => random.next(),
      now: clock.now,
      schedule: agentProcess.timers.schedule,
      openSocket: link.dialer(name),
      // What `serve` does with the welcome and the acks.
      onWelcome: (welcome) => {
        this.welcomes += 1;
        void delivery.welcomed(welcome.ackedSeq);
      },
      onAck: (seq) => {
        void delivery.acked(seq);
      },
      onReject: (code, message) => {
        this.#refused = code;
        trace(`${name}: refused for good: ${code} ${message}`);
        agentProcess.fs.kill();
        this.#died();
      },
      onDisconnect: (info) => {
        trace(`${name}: disconnected ${String(info.code)} ${info.reason}`);
      },
      onError: (error) => {
        trace(`${name}: ${error.message}`);
      },
    });
    const delivery = new OutboxDelivery(outbox, (envelope) => client.send(envelope));
    client.start();
    this.#emitNext(agentProcess, outbox);
  }

  #emitNext(agentProcess: AgentProcess, outbox: Outbox): void {
    const { total, emitGapMs, random, name } = this.options;
    if (this.#next > total) return;
    agentProcess.timers.schedule(
      () => {
        const k = this.#next;
        outbox.append(eventFor(name, k, total)).then(
          (envelope) => {
            if (envelope === undefined)
              this.world.problems.push(`${name}: event ${String(k)} was coalesced away`);
            this.#next = k + 1;
            this.#emitNext(agentProcess, outbox);
          },
          (error: unknown) => {
            this.world.problems.push(`${name}: appending event ${String(k)} failed: ${String(error)}`);
          },
        );
      },
      random.int(0, 2 * emitGapMs),
    );
  }

  /** The process is gone: a FIN reaches the provisioner unless the host lost power; systemd restarts it. */
  #died(): void {
    const { clock, link, random } = this.world;
    const agentProcess = this.#agentProcess;
    if (agentProcess === undefined) return;
    this.#agentProcess = undefined;
    agentProcess.timers.cancelAll();
    link.agentDown(this.name, this.#refused !== undefined || random.chance(0.7));
    if (this.#refused !== undefined) return;
    clock.at(clock.now() + random.int(100, 2 * MODEL_TIMING.deadlineMs), () => {
      this.boot();
    });
  }
}
