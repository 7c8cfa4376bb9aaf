import path from "node:path";
import { agentFileName } from "../../server/agent-binary.js";
import { keyBlobFromLine, pinnedKeys } from "../../server/ssh/host-key.js";
import { AGENT_CACHE_DIR, hashFile, pushAgent, type AgentBinary } from "../../server/ssh/push-agent.js";
import { SshSession } from "../../server/ssh/session.js";
import { startLabFleet, type LabFleet } from "../support/lab-fleet.js";
import { benchSizes } from "./bench-env.js";
import type { BenchOptions, BenchResult, Row } from "./report/types.js";
import { mustSucceed, timedGroundcrew } from "./timed-cli.js";

/** One measurement: the agent pushed to a host that lacked it (cold) or had this build (present). */
export interface AgentPushRow {
  readonly what: "push" | "check";
  readonly state: "cold" | "present";
  /** Median over the repeats, seconds. */
  readonly seconds: number;
  /** The push code's own count of agent bytes sent (push rows; 0 for check rows). */
  readonly agentBytes: number;
  /** Bytes written to the SSH connection: the agent, commands, SSH framing and encryption (push rows). */
  readonly sshBytes: number;
  readonly repeats: number;
}

/**
 * Time and bytes to push the agent to one lab host, cold (its cache emptied)
 * and present (the same build there: only its sha256 is checked), measured
 * on the push code itself (`pushAgent` over one SSH session) and end to end
 * through `groundcrew check`, which pushes it before gathering facts. Each
 * is the median of BENCH_PUSH_REPEATS runs (default 3; --quick: 1). Needs
 * Docker and `npm run build`; run it under the lab lock.
 */
export async function push(options: BenchOptions): Promise<BenchResult> {
  const repeats = benchSizes(process.env["BENCH_PUSH_REPEATS"], [options.quick ? 1 : 3])[0] ?? 1;
  const file = path.resolve("dist", agentFileName());
  const agent: AgentBinary = { path: file, sha256: await hashFile(file) };
  const fleet = await startLabFleet(1);
  const rows: AgentPushRow[] = [];
  try {
    const machine = fleet.lab.machines[0];
    if (machine === undefined) throw new Error("a lab without machines");
    const inventory = await fleet.writeInventory("push.yaml", { depot: false, installDocker: false });
    const session = await SshSession.connect({
      name: machine.name,
      host: machine.address,
      username: fleet.lab.user,
      privateKey: fleet.lab.privateKey,
      hostKeys: pinnedKeys(machine.hostKeys.map(keyBlobFromLine)),
    });
    const cache = path.posix.join(await session.homeDirectory(), AGENT_CACHE_DIR);
    const emptyCache = (): Promise<string> => fleet.asRoot(machine.name, ["rm", "-rf", "--", cache]);
    try {
      for (const state of ["cold", "present"] as const) {
        const samples: { seconds: number; agentBytes: number; sshBytes: number }[] = [];
        for (let index = 0; index < repeats; index += 1) {
          if (state === "cold") await emptyCache();
          else await pushAgent(session, agent);
          const wireBefore = session.bytesWritten;
          const started = process.hrtime.bigint();
          const pushed = await pushAgent(session, agent);
          samples.push({
            seconds: Number(process.hrtime.bigint() - started) / 1e9,
            agentBytes: pushed.bytesSent,
            sshBytes: session.bytesWritten - wireBefore,
          });
        }
        rows.push({ what: "push", state, repeats, ...medianSample(samples) });
      }
    } finally {
      session.close();
    }
    for (const state of ["cold", "present"] as const) {
      rows.push({
        what: "check",
        state,
        repeats,
        ...(await timeCheck(fleet, inventory, state, repeats, emptyCache)),
      });
    }
  } finally {
    await fleet.stop();
  }
  return pushResult(rows);
}

async function timeCheck(
  fleet: LabFleet,
  inventory: string,
  state: "cold" | "present",
  repeats: number,
  emptyCache: () => Promise<string>,
): Promise<{ seconds: number; agentBytes: number; sshBytes: number }> {
  const stateDir = path.join(fleet.work, "state");
  const samples: { seconds: number; agentBytes: number; sshBytes: number }[] = [];
  for (let index = 0; index < repeats; index += 1) {
    if (state === "cold") await emptyCache();
    else mustSucceed(await timedGroundcrew(stateDir, ["check", "-i", inventory]), "check");
    const run = mustSucceed(await timedGroundcrew(stateDir, ["check", "-i", inventory]), "check");
    samples.push({ seconds: (run.exitedAt - run.startedAt) / 1000, agentBytes: 0, sshBytes: 0 });
  }
  return medianSample(samples);
}

function medianSample<T extends { seconds: number }>(samples: readonly T[]): T {
  const sorted = [...samples].sort((a, b) => a.seconds - b.seconds);
  const middle = sorted[Math.floor(sorted.length / 2)];
  if (middle === undefined) throw new Error("no samples");
  return middle;
}

/** The benchmark's result for `rows`: push and check, each cold and with the build present. */
export function pushResult(rows: readonly AgentPushRow[]): BenchResult {
  const repeats = rows[0]?.repeats ?? 0;
  return {
    benchmark: "push",
    title: "the agent pushed to one lab host: absent (cold) vs the same build already there",
    rows: rows.map((row): Row => {
      const present = rows.find((other) => other.what === row.what && other.state === "present");
      return {
        case: `${row.what}, ${row.state === "cold" ? "agent absent" : "same build present"}`,
        values: [
          { name: "time", value: row.seconds, unit: "s", chart: true },
          ...(row.what === "push"
            ? [
                { name: "agent bytes sent", value: row.agentBytes, unit: "bytes" as const },
                { name: "SSH bytes written", value: row.sshBytes, unit: "bytes" as const },
              ]
            : []),
        ],
        ratios:
          row.state === "cold" && present !== undefined && present.seconds > 0
            ? [{ name: "cold / present", value: row.seconds / present.seconds }]
            : [],
      };
    }),
    notes: [
      `push = the push code alone (pushAgent) over an open SSH session: hash check, upload to a temporary name, hash check, rename; check = \`groundcrew check\` end to end (CLI start, SSH, sudo, push, facts, preflights). Medians of ${repeats} run(s); the lab host is a container on the same machine (loopback-speed link).`,
    ],
  };
}
