import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { DiskActivity } from "./crashable-fs.js";
import { checkDelivery } from "./delivery-check.js";
import { ModelHost } from "./model-host.js";
import { ModelProvisioner } from "./model-provisioner.js";
import { MODEL_RUN, MODEL_TIMING, type ModelWorld } from "./model-world.js";
import { SeededRandom } from "./seeded-random.js";
import { SimClock } from "./sim-clock.js";
import { SimLink, type LinkFaults, type LinkFigures } from "./sim-link.js";

const CHAOS_TICK_MS = 100;
/** After the link heals, everything must be delivered within this much virtual time. */
const DRAIN_LIMIT_MS = 10 * 60_000;
/** No run takes longer than this in virtual time: a wedge shows up as a problem, not a hang. */
const RUN_LIMIT_MS = 60 * 60_000;

/** Chances per chaos tick (every 100 virtual ms, until every event is emitted). */
export interface ChaosRates {
  /** An agent process dies at a random ms of the tick (file operations in flight land, vanish or tear). */
  readonly agentKill: number;
  /** The provisioner dies: every connection goes, the journal is closed, and re-opened 0.2–4 s later. */
  readonly serverKill: number;
  /** One host's network is cut for 0.2 s to two ping deadlines. */
  readonly cut: number;
  /** A frame kept earlier is replayed into a host's current connection. */
  readonly replay: number;
}

export interface DeliveryModelOptions {
  readonly hosts?: number;
  readonly eventsPerHost?: number;
  /** Virtual ms between two events of one host: uniform in [0, 2 × this]. */
  readonly emitGapMs?: number;
  readonly faults?: Partial<LinkFaults>;
  readonly chaos?: Partial<ChaosRates>;
  /** Parent of the temp dir; default /dev/shm where writable (a real file system whose fsync is cheap), else the OS's. */
  readonly tmpRoot?: string;
  /** Deaths, restarts, refusals and reports, each prefixed with its virtual time. */
  readonly trace?: (line: string) => void;
}

export const DEFAULT_FAULTS: LinkFaults = {
  drop: 0.002,
  duplicate: 0.02,
  reorder: 0.01,
  delay: 0.004,
  replay: 0.01,
};
export const DEFAULT_CHAOS: ChaosRates = { agentKill: 0.06, serverKill: 0.015, cut: 0.02, replay: 0.1 };

/** What one run of the model did, and what it found wrong (`problems` is empty when delivery held). */
export interface DeliveryFigures {
  readonly seed: number;
  readonly hosts: number;
  /** Events durably appended to the agents' outboxes. */
  readonly emitted: number;
  /** Events in the journal at the end. */
  readonly journaled: number;
  /** Event frames the journal recognised as already committed (resends, duplicated and replayed frames). */
  readonly deduped: number;
  /** Journal transactions of events (group commits) the provisioner ran, and the most events one held. */
  readonly commitGroups: number;
  readonly largestGroup: number;
  /** Emitted events missing from the journal at the end. */
  readonly lost: number;
  readonly link: Readonly<LinkFigures>;
  readonly agentKills: number;
  /** Agent kills with file operations in flight (the rest fell between operations). */
  readonly midIoKills: number;
  readonly serverKills: number;
  readonly cuts: number;
  readonly welcomes: number;
  /** What the provisioner reported (protocol violations, duplicates...), by error code. */
  readonly serverReports: Readonly<Record<string, number>>;
  readonly virtualSeconds: number;
  readonly problems: readonly string[];
}

function defaultTmpRoot(): string {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return "/dev/shm";
  } catch {
    return tmpdir();
  }
}

/**
 * Runs the delivery model once. `hosts` agents, each with the real Outbox
 * (in a temp dir), OutboxDelivery and AgentClient, report to the real
 * AgentHub and AgentConnection over a real SQLite Journal, through a
 * SimLink that drops, duplicates, reorders, delays and replays frames and
 * cuts hosts off, while agents and the provisioner are killed and restarted
 * at random moments: all in virtual time, all drawn from `seed`. Once every
 * event is emitted the link heals and the run goes on until everything is
 * delivered (or DRAIN_LIMIT_MS passes); then the journal and the outboxes
 * are checked (see checkDelivery). After every task it also checks that no
 * outbox counts as acked an event the journal has not committed. The same
 * seed and options give the same run, figures included.
 */
export async function runDeliveryModel(
  seed: number,
  options: DeliveryModelOptions = {},
): Promise<DeliveryFigures> {
  const total = options.eventsPerHost ?? 1000;
  const chaos = { ...DEFAULT_CHAOS, ...options.chaos };
  const root = await mkdtemp(path.join(options.tmpRoot ?? defaultTmpRoot(), "gc-delivery-model-"));
  const clock = new SimClock();
  const names = Array.from({ length: options.hosts ?? 5 }, (_, i) => `node-${String(i + 1)}`);
  const linkRandom = new Map(names.map((name, i) => [name, SeededRandom.derive(seed, i)]));
  const link = new SimLink(
    clock,
    { ...DEFAULT_FAULTS, ...options.faults },
    {
      minLatencyMs: 1,
      maxLatencyMs: 20,
      spikeMinMs: 300,
      spikeMaxMs: 2 * MODEL_TIMING.deadlineMs,
      closeHandshakeMs: 40,
    },
    (name) => linkRandom.get(name) ?? new SeededRandom(seed),
  );
  const trace = options.trace;
  const world: ModelWorld = {
    clock,
    link,
    random: new SeededRandom(seed),
    disk: new DiskActivity(),
    problems: [],
    trace:
      trace === undefined
        ? () => undefined
        : (line) => {
            trace(`${(clock.now() / 1000).toFixed(3)} ${line}`);
          },
  };
  const { random, problems } = world;
  const provisioner = new ModelProvisioner(world, path.join(root, "journal.db"), names);
  const hosts = names.map(
    (name, i) =>
      new ModelHost(world, {
        name,
        stateDir: path.join(root, name),
        total,
        emitGapMs: options.emitGapMs ?? 25,
        random: SeededRandom.derive(seed, 1000 + i),
      }),
  );
  let healed = false;
  let cuts = 0;

  const pick = (): ModelHost => {
    const host = hosts[random.int(0, hosts.length - 1)];
    if (host === undefined) throw new Error("the delivery model needs at least one host");
    return host;
  };
  const chaosTick = (): void => {
    if (healed) return;
    if (random.chance(chaos.agentKill)) {
      const host = pick();
      clock.at(clock.now() + random.int(0, CHAOS_TICK_MS - 1), () => {
        if (!healed) host.kill();
      });
    }
    if (random.chance(chaos.serverKill)) provisioner.kill();
    if (random.chance(chaos.cut)) {
      cuts += 1;
      link.cut(pick().name, random.int(200, 2 * MODEL_TIMING.deadlineMs));
    }
    if (random.chance(chaos.replay)) link.injectReplay(pick().name);
    clock.at(clock.now() + CHAOS_TICK_MS, chaosTick);
  };
  const delivered = (): boolean =>
    provisioner.up && hosts.every((host) => host.drained(provisioner.committed(host.name)));

  try {
    provisioner.start();
    for (const host of hosts) {
      clock.at(0, () => {
        host.boot();
      });
    }
    clock.at(CHAOS_TICK_MS, chaosTick);
    let drainUntil = Number.POSITIVE_INFINITY;
    while (problems.length === 0) {
      if (healed && (delivered() || clock.now() > drainUntil)) break;
      if (clock.now() > RUN_LIMIT_MS) {
        problems.push(`the events were not all emitted within ${String(RUN_LIMIT_MS / 1000)} virtual s`);
        break;
      }
      const task = clock.take();
      if (task === undefined) break;
      task();
      // Every real file operation, and what its result sets off, finishes before the next task.
      await world.disk.quiet();
      for (const host of hosts) {
        if (host.ackedSeq > provisioner.committed(host.name)) {
          problems.push(
            `${host.name}: the outbox counts seq ${String(host.ackedSeq)} as acked, the journal has committed only ${String(provisioner.committed(host.name))}`,
          );
        }
      }
      if (!healed && hosts.every((host) => host.finished)) {
        healed = true;
        link.heal();
        drainUntil = clock.now() + DRAIN_LIMIT_MS;
        world.trace("healed: no more faults");
      }
    }
    for (const host of hosts) {
      if (host.refused !== undefined)
        problems.push(`${host.name}: the agent was refused for good (${host.refused})`);
      else if (!host.finished) problems.push(`${host.name}: not every event was emitted`);
    }
    for (const host of hosts) host.stop();
    provisioner.stop();
    const check = await checkDelivery({
      dbFile: path.join(root, "journal.db"),
      runId: MODEL_RUN,
      total,
      hosts,
    });
    problems.push(...check.problems);
    const sum = (of: (host: ModelHost) => number): number => hosts.reduce((acc, host) => acc + of(host), 0);
    return {
      seed,
      hosts: hosts.length,
      emitted: sum((host) => host.emitted.length),
      journaled: check.journaled,
      deduped: provisioner.deduped,
      commitGroups: provisioner.groups,
      largestGroup: provisioner.largestGroup,
      lost: check.lost,
      link: { ...link.figures },
      agentKills: sum((host) => host.kills),
      midIoKills: sum((host) => host.midIoKills),
      serverKills: provisioner.kills,
      cuts,
      welcomes: sum((host) => host.welcomes),
      serverReports: { ...provisioner.reports },
      virtualSeconds: clock.now() / 1000,
      problems: [...problems],
    };
  } finally {
    for (const host of hosts) host.stop();
    provisioner.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** One line per run, for logs and docs/reliability.md. */
export function formatFigures(figures: DeliveryFigures): string {
  const { link } = figures;
  const count = (n: number): string => String(n);
  const reports = Object.entries(figures.serverReports)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, n]) => `${code} ${count(n)}`)
    .join(", ");
  return [
    `seed ${count(figures.seed)}: ${count(figures.hosts)} hosts`,
    `${count(figures.emitted)} events emitted, ${count(figures.journaled)} journaled, ${count(figures.deduped)} duplicate frames deduped, ${count(figures.lost)} lost`,
    `${count(figures.commitGroups)} commit groups (largest ${count(figures.largestGroup)} events)`,
    `link: ${count(link.frames)} frames, ${count(link.dropped)} dropped, ${count(link.duplicated)} duplicated, ${count(link.reordered)} reordered, ${count(link.delayed)} delayed, ${count(link.replayed)} replayed`,
    `${count(figures.agentKills)} agent kills (${count(figures.midIoKills)} mid-I/O), ${count(figures.serverKills)} provisioner kills, ${count(figures.cuts)} cuts, ${count(figures.welcomes)} welcomes`,
    `provisioner reports: ${reports || "none"}`,
    `${figures.virtualSeconds.toFixed(1)} s virtual`,
  ].join("; ");
}
