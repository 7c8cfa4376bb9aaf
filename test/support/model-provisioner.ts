import { Journal } from "../../server/journal/index.js";
import { AgentHub } from "../../server/ws/agent-hub.js";
import { PROTOCOL_VERSION, type Plan } from "../../shared/protocol.js";
import { MODEL_RUN, MODEL_TIMING, type ModelWorld } from "./model-world.js";
import type { TimerGroup } from "./sim-clock.js";

/**
 * The provisioner of the delivery model: a real Journal (SQLite file) behind
 * a real AgentHub, which the SimLink hands its connections. `kill` is the
 * process dying: every connection goes (a FIN reaches the agents, or not),
 * the journal is closed; a new process opens it again a little later.
 */
export class ModelProvisioner {
  /** What the hub reported, by error code. */
  readonly reports: Record<string, number> = {};
  /** Event frames the journal answered "duplicate". */
  deduped = 0;
  /** Group transactions tried, and the most events one held. */
  groups = 0;
  largestGroup = 0;
  kills = 0;
  readonly #committed = new Map<string, number>();
  #process: { readonly journal: Journal; readonly timers: TimerGroup } | undefined;
  #runStarted = false;

  constructor(
    private readonly world: ModelWorld,
    private readonly dbFile: string,
    private readonly hosts: readonly string[],
  ) {}

  get up(): boolean {
    return this.#process !== undefined;
  }

  /** Highest seq of `host` the journal committed (model bookkeeping; survives restarts as the journal does). */
  committed(host: string): number {
    return this.#committed.get(host) ?? 0;
  }

  start(): void {
    const { clock, link, trace } = this.world;
    const journal = Journal.open(this.dbFile, { clock: clock.date });
    if (!this.#runStarted) {
      journal.startRun({ id: MODEL_RUN, action: "apply", inventory: "model.yaml", hosts: [...this.hosts] });
      this.#runStarted = true;
    }
    const timers = clock.group();
    const plan = (host: string): Plan => ({ runId: MODEL_RUN, host, action: "apply", steps: [] });
    const hub = new AgentHub({
      sink: {
        append: (envelope) => {
          const result = journal.append(envelope);
          if (result === "duplicate") this.deduped += 1;
          else this.#committed.set(envelope.host, envelope.seq);
          return result;
        },
        appendGroup: (envelopes) => {
          this.groups += 1;
          this.largestGroup = Math.max(this.largestGroup, envelopes.length);
          const results = journal.appendGroup(envelopes);
          results.forEach((result, i) => {
            const envelope = envelopes[i];
            if (envelope === undefined) return;
            if (result === "duplicate") this.deduped += 1;
            else if (result === "inserted") this.#committed.set(envelope.host, envelope.seq);
          });
          return results;
        },
      },
      // What `up` answers: the plan, and the highest seq already journaled.
      onHello: (host, hello) =>
        hello.protocol === PROTOCOL_VERSION && hello.runId === MODEL_RUN
          ? { plan: plan(host), ackedSeq: journal.lastSeq(MODEL_RUN, host) }
          : { reject: "UNKNOWN_RUN", message: `run ${hello.runId} is not the current run` },
      report: (error) => {
        this.reports[error.code] = (this.reports[error.code] ?? 0) + 1;
        trace(`provisioner: ${error.code} ${error.message}`);
      },
      now: clock.now,
      deadlineMs: MODEL_TIMING.deadlineMs,
      // The simulated sockets finish a close in virtual time; ws's real-time kill timer must never fire.
      closeGraceMs: 3_600_000,
      // Frames that arrive before the flush share one transaction; a kill cancels a pending flush,
      // so what was queued is lost uncommitted (and unacked), as in a crash.
      groupCommit: {
        schedule: (flush) => {
          timers.schedule(flush, MODEL_TIMING.commitDelayMs);
        },
      },
    });
    const tick = (): void => {
      hub.tick();
      timers.schedule(tick, MODEL_TIMING.pingIntervalMs);
    };
    timers.schedule(tick, MODEL_TIMING.pingIntervalMs);
    link.serverUp({
      accept: (socket, host, id) => {
        hub.accept(socket, { host, serial: "01", remote: `sim:${host}#${String(id)}` });
      },
    });
    this.#process = { journal, timers };
    trace("provisioner: up");
  }

  /** The process dies now and is restarted 0.2–4 s later. */
  kill(): void {
    const { clock, link, random, trace } = this.world;
    const process = this.#process;
    if (process === undefined) return;
    this.kills += 1;
    const fin = random.chance(0.7);
    trace(`provisioner: killed (${fin ? "FIN sent" : "no FIN"})`);
    link.serverDown(fin);
    process.timers.cancelAll();
    process.journal.close();
    this.#process = undefined;
    clock.at(clock.now() + random.int(200, 4000), () => {
      this.start();
    });
  }

  /** Ends the run: the journal is closed, nothing restarts. */
  stop(): void {
    this.#process?.timers.cancelAll();
    this.#process?.journal.close();
    this.#process = undefined;
  }
}
