import path from "node:path";
import { z } from "zod";
import { Journal } from "../../server/journal/index.js";
import type { TimedLine, TimedRun } from "./timed-cli.js";

/** What the journal says about one run, as far as timing goes (ISO 8601 timestamps). */
export interface JournalTimes {
  readonly runId: string;
  /** Provisioner clock: `startRun` (after the fleet check) and `finishRun` (after the final verification). */
  readonly runStartedAt: string;
  readonly runFinishedAt: string;
  /** Agent clock: each host's run.started and run.finished. */
  readonly hosts: readonly {
    readonly host: string;
    readonly startedAt: string | null;
    readonly finishedAt: string | null;
  }[];
  /** Agent clock: each step's step.started and its terminal event (null when only ever skipped). */
  readonly steps: readonly {
    readonly host: string;
    readonly stepId: string;
    readonly startedAt: string | null;
    readonly finishedAt: string | null;
  }[];
}

/**
 * Where the wall time of one `up` went, in seconds, along its critical path.
 * The parts add up to `total`:
 * - check: CLI start until the run is journaled (bundle verification, SSH,
 *   sudo, agent push to the login user's cache, facts, preflights);
 * - depotFill: artifacts sent to the depot over SSH (the depot's phase only);
 * - agentStart: per orchestration phase, from the phase's start until its
 *   slowest host's agent reported run.started, less the depot fill (TLS
 *   material, the agent as a systemd unit, the agent dialling back);
 * - fetch: the slowest host's artifacts.fetch step, per phase (distribution);
 * - steps: the rest of the slowest host's run, per phase;
 * - verify: the last host's run.finished until the run is finished (nodes
 *   Ready, label sync, kubeconfig, the cluster report);
 * - exit: the run finished until the CLI exited.
 * `agentPush` is part of `check`: from the first to the last agent transfer
 * progress line (0 when every host had this build).
 */
export interface UpPhases {
  readonly total: number;
  readonly check: number;
  readonly agentPush: number;
  readonly depotFill: number;
  readonly agentStart: number;
  readonly fetch: number;
  readonly steps: number;
  readonly verify: number;
  readonly exit: number;
  /** Steps on the critical path, seconds summed over phases, longest first. */
  readonly criticalSteps: readonly { readonly stepId: string; readonly seconds: number }[];
}

const phaseLine = z.object({ host: z.string(), phase: z.string() });
const transferLine = z.object({
  host: z.string(),
  transfer: z.object({ what: z.string(), bytesDone: z.number(), bytesTotal: z.number() }),
});

/** Reads the latest run's timing from the journal in `stateDir` (read-only). */
export function readJournalTimes(stateDir: string): JournalTimes {
  const journal = Journal.open(path.join(stateDir, "journal.db"), { readonly: true });
  try {
    const run = journal.latestRun();
    if (run === undefined) throw new Error(`no run in the journal under ${stateDir}`);
    if (run.finishedAt === null) throw new Error(`run ${run.id} did not finish`);
    return {
      runId: run.id,
      runStartedAt: run.startedAt,
      runFinishedAt: run.finishedAt,
      hosts: journal.hostStatus(run.id).map((status) => ({
        host: status.host,
        startedAt: status.startedAt,
        finishedAt: status.finishedAt,
      })),
      steps: journal.stepStatus(run.id).map((status) => ({
        host: status.host,
        stepId: status.stepId,
        startedAt: status.startedAt,
        finishedAt: status.finishedAt,
      })),
    };
  } finally {
    journal.close();
  }
}

/**
 * Splits one `up` (its timed output, `--json` mode, and the journal's times)
 * along the critical path of its orchestration `phases` (host names, in the
 * order `up` starts them). Throws when a host never started or finished.
 */
export function upPhases(
  run: TimedRun,
  journal: JournalTimes,
  phases: readonly (readonly string[])[],
): UpPhases {
  const ms = (iso: string): number => {
    const value = Date.parse(iso);
    if (Number.isNaN(value)) throw new Error(`not a timestamp: ${iso}`);
    return value;
  };
  const hostTimes = new Map(
    journal.hosts.map((host) => {
      if (host.startedAt === null || host.finishedAt === null)
        throw new Error(`${host.host} did not run to the end in run ${journal.runId}`);
      return [host.host, { started: ms(host.startedAt), finished: ms(host.finishedAt) }] as const;
    }),
  );
  const runStarted = ms(journal.runStartedAt);
  const runFinished = ms(journal.runFinishedAt);
  const depot = depotFillMs(run.lines);

  let phaseStart = runStarted;
  let agentStart = 0;
  let fetch = 0;
  let steps = 0;
  const critical = new Map<string, number>();
  for (const phase of phases) {
    const slowest = phase
      .map((host) => {
        const times = hostTimes.get(host);
        if (times === undefined) throw new Error(`${host} is not in run ${journal.runId}`);
        return { host, ...times };
      })
      .reduce((a, b) => (b.finished > a.finished ? b : a));
    const fill = phase.includes(depot.host ?? "") ? depot.ms : 0;
    agentStart += slowest.started - phaseStart - fill;
    for (const step of journal.steps) {
      if (step.host !== slowest.host || step.startedAt === null || step.finishedAt === null) continue;
      const took = ms(step.finishedAt) - ms(step.startedAt);
      critical.set(step.stepId, (critical.get(step.stepId) ?? 0) + took);
      if (step.stepId === "artifacts.fetch") fetch += took;
    }
    steps += slowest.finished - slowest.started;
    phaseStart = slowest.finished;
  }
  steps -= fetch;
  const agentPush = agentPushMs(run.lines);
  const seconds = (value: number): number => value / 1000;
  return {
    total: seconds(run.exitedAt - run.startedAt),
    check: seconds(runStarted - run.startedAt),
    agentPush: seconds(agentPush),
    depotFill: seconds(depot.ms),
    agentStart: seconds(agentStart),
    fetch: seconds(fetch),
    steps: seconds(steps),
    verify: seconds(runFinished - phaseStart),
    exit: seconds(run.exitedAt - runFinished),
    criticalSteps: [...critical]
      .map(([stepId, took]) => ({ stepId, seconds: seconds(took) }))
      .sort((a, b) => b.seconds - a.seconds),
  };
}

/** The depot's fill, from its "depot: storing" line to its "depot: ... sent" line; 0 when there was none. */
function depotFillMs(lines: readonly TimedLine[]): { host: string | undefined; ms: number } {
  let host: string | undefined;
  let from: number | undefined;
  for (const line of lines) {
    const parsed = parseJson(phaseLine, line);
    if (parsed === undefined) continue;
    if (parsed.phase.startsWith("depot: storing")) {
      host = parsed.host;
      from = line.at;
    } else if (from !== undefined && parsed.host === host && / sent \(/.test(parsed.phase)) {
      return { host, ms: line.at - from };
    }
  }
  return { host: undefined, ms: 0 };
}

/** From the first to the last progress line of an agent transfer, over every host. */
function agentPushMs(lines: readonly TimedLine[]): number {
  const times = lines
    .filter((line) => parseJson(transferLine, line)?.transfer.what === "the agent")
    .map((line) => line.at);
  return times.length === 0 ? 0 : Math.max(...times) - Math.min(...times);
}

function parseJson<T>(schema: z.ZodType<T>, line: TimedLine): T | undefined {
  if (line.stream !== "stdout" || !line.text.startsWith("{")) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(line.text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
