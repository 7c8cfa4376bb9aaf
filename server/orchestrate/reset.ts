import { GroundcrewError } from "../../shared/errors.js";
import { agentEventSchema, parseFrame, type EventEnvelope, type Plan } from "../../shared/protocol.js";
import { AGENT_STATE_DIR, AGENT_UNIT_NAME } from "../deploy/layout.js";
import { removeGroundcrew } from "../deploy/remove-groundcrew.js";
import type { Inventory, InventoryHost } from "../inventory/types.js";
import { Journal } from "../journal/index.js";
import { pushAgent, type AgentBinary } from "../ssh/push-agent.js";
import type { KnownHosts } from "../ssh/known-hosts.js";
import type { Secret } from "../../shared/secret.js";
import type { Redactor } from "../../shared/redactor.js";
import { redactEnvelope, withRedaction } from "./redaction.js";
import { connectHost, type HostConnection } from "./host-session.js";
import { newRunId, phases, resetSteps } from "./plan.js";
import { mapLimit } from "./pool.js";
import { errorFields, silentLogger, type Logger } from "../log/logger.js";

/** Where k3s.install puts the k3s binary (agent/steps/k3s-files.ts). */
const K3S_BINARY = "/usr/local/bin/k3s";
import type { UpReporter } from "./up.js";
import { journalPath } from "./up.js";

export interface ResetOptions {
  readonly inventory: Inventory;
  readonly stateDir: string;
  readonly agent: AgentBinary;
  readonly knownHosts: KnownHosts;
  readonly acceptNewHostKeys: boolean;
  readonly sudoPasswords?: ReadonlyMap<string, Secret>;
  readonly concurrency: number;
  readonly reporter: UpReporter;
  /** The run's secrets, redacted from the journal, the reporter and errors (see UpOptions.redactor). */
  readonly redactor?: Redactor;
  /** Diagnostics (see UpOptions.log). */
  readonly log?: Logger;
}

/** ResetOptions with the run's Redactor and a redacting reporter in place (withRedaction). */
type RedactedResetOptions = ResetOptions & { readonly redactor: Redactor };

export type ResetOutcome = "reset" | "failed" | "unreachable";

export interface ResetResult {
  readonly runId: string;
  readonly outcomes: ReadonlyMap<string, ResetOutcome>;
}

/**
 * `reset`: undoes `up` host by host, workers first, then the servers other
 * than the first, then the first server, the depot last (it serves the
 * others until then). On each host the agent undoes every step in reverse
 * from its ledger (`run --plan` over SSH, so it works whether or not the
 * host can reach the provisioner), each event journaled as an "undo" run;
 * then groundcrew removes itself (units, /var/lib/groundcrew, the agent's
 * cache). Best effort: a host that fails is reported and the others go on;
 * everything is idempotent, so a reset cut short is finished by running it
 * again, and a second reset is a no-op. Throws JOURNAL_IN_USE when another
 * groundcrew holds the journal.
 */
export async function reset(given: ResetOptions): Promise<ResetResult> {
  const options = withRedaction(given);
  const { inventory, reporter } = options;
  const journal = Journal.open(journalPath(options.stateDir));
  const connections = new Map<string, HostConnection | Error>();
  try {
    await mapLimit(inventory.hosts, options.concurrency, async (host) => {
      connections.set(
        host.name,
        await connectHost(host, options).catch((error: unknown) =>
          error instanceof Error ? error : new Error(String(error)),
        ),
      );
    });
    const runId = newRunId();
    const names = inventory.hosts.map((host) => host.name);
    journal.startRun({ id: runId, action: "undo", inventory: inventory.file, hosts: names });
    const log = options.log ?? silentLogger;
    log.info({ runId, hosts: names.length }, "reset run started");
    const outcomes = new Map<string, ResetOutcome>();
    const servers = inventory.hosts.filter((host) => host.role === "server");
    const first = servers.find((host) => host.depot) ?? servers[0];
    const firstConnection = first === undefined ? undefined : connections.get(first.name);
    for (const phase of [...phases(inventory.hosts)].reverse()) {
      log.info({ hosts: phase.map((host) => host.name) }, "phase: started");
      await mapLimit(phase, options.concurrency, async (host) => {
        const connection = connections.get(host.name);
        if (connection === undefined || connection instanceof Error) {
          reporter.phase(host.name, `unreachable, not reset: ${connection?.message ?? "?"}`, "failed");
          outcomes.set(host.name, "unreachable");
          return;
        }
        if (
          first !== undefined &&
          host.name !== first.name &&
          firstConnection !== undefined &&
          !(firstConnection instanceof Error)
        ) {
          await deleteNode(firstConnection, host.name, reporter);
        }
        outcomes.set(host.name, await resetHost(host, connection, runId, journal, options));
      });
    }
    const failed = [...outcomes.values()].some((outcome) => outcome !== "reset");
    log.info({ outcomes: Object.fromEntries(outcomes) }, "reset finished");
    journal.finishRun(runId, failed ? "failed" : "succeeded");
    return { runId, outcomes };
  } finally {
    for (const connection of connections.values())
      if (!(connection instanceof Error)) connection.session.close();
    journal.close();
  }
}

/**
 * Deletes `node` from the cluster through the first server before its host
 * is uninstalled: that removes its node-password secret and, for a server,
 * its etcd member (step catalog K9). Best effort: a cluster that is gone, or
 * a node it never had, is fine.
 */
async function deleteNode(first: HostConnection, node: string, reporter: UpReporter): Promise<void> {
  if ((await first.root.run(["test", "-x", K3S_BINARY])).code !== 0) return;
  const deleted = await first.root.run([K3S_BINARY, "kubectl", "delete", "node", node], {
    timeoutMs: 60_000,
  });
  if (deleted.code === 0) reporter.phase(node, `deleted node ${node} from the cluster`);
  else if (!/not ?found/i.test(deleted.stderr)) {
    reporter.note(
      `${node}: could not delete the node from the cluster: ${deleted.stderr.trim().split("\n")[0] ?? ""}`,
    );
  }
}

async function resetHost(
  host: InventoryHost,
  connection: HostConnection,
  runId: string,
  journal: Journal,
  options: RedactedResetOptions,
): Promise<ResetOutcome> {
  const { reporter } = options;
  try {
    const sudo = await connection.root.run(["true"], { timeoutMs: 20_000 });
    if (sudo.code !== 0) throw new Error(`sudo does not work: ${sudo.stderr.trim()}`);
    // Steps to undo only where an agent kept a ledger: a clean host gets no agent at all.
    if ((await connection.root.run(["test", "-d", AGENT_STATE_DIR])).code === 0) {
      if (!(await undoSteps(host, connection, runId, journal, options))) return "failed";
    }
    const home = await connection.session.homeDirectory();
    const { removed, problems } = await removeGroundcrew(connection.root, connection.session, home);
    for (const problem of problems) reporter.note(`${host.name}: ${problem}`);
    reporter.phase(
      host.name,
      removed.length === 0 ? "reset: nothing of groundcrew was left" : `reset: removed ${removed.join(", ")}`,
      problems.length > 0 ? "failed" : undefined,
    );
    return problems.length > 0 ? "failed" : "reset";
  } catch (error) {
    const message =
      error instanceof GroundcrewError || error instanceof Error ? error.message : String(error);
    (options.log ?? silentLogger).error({ host: host.name, ...errorFields(error) }, "reset failed");
    reporter.phase(host.name, `reset FAILED: ${message}`, "failed");
    return "failed";
  }
}

/**
 * Runs the undo plan through the agent (pushed to the login user's cache
 * when missing), journaling its events. The agent unit is stopped first: it
 * would otherwise go on serving, and be restarted, while its work is undone.
 * Resolves false (reported) when the undo did not succeed.
 */
async function undoSteps(
  host: InventoryHost,
  connection: HostConnection,
  runId: string,
  journal: Journal,
  options: RedactedResetOptions,
): Promise<boolean> {
  const { reporter } = options;
  await connection.root.run(["systemctl", "stop", AGENT_UNIT_NAME]);
  const agent = await pushAgent(connection.session, options.agent, (done, total) => {
    reporter.transfer(host.name, done, total, "the agent");
  });
  const plan: Plan = { runId, host: host.name, action: "undo", steps: resetSteps(host.name) };
  const undone = await connection.root.run(
    [agent.remotePath, "run", "--plan", "/dev/stdin", "--state-dir", AGENT_STATE_DIR],
    { input: JSON.stringify(plan) },
  );
  const events = parseEvents(undone.stdout, runId, host.name);
  for (const envelope of events) {
    // The reporter redacts on its own (withRedaction); the journal gets what it shows.
    journal.append(redactEnvelope(envelope, options.redactor));
    reporter.event(envelope);
  }
  (options.log ?? silentLogger).debug(
    { host: host.name, events: events.length },
    "journal: undo events committed",
  );
  const finished = events.at(-1)?.event;
  if (finished?.kind === "run.finished" && finished.outcome === "succeeded") return true;
  reporter.phase(host.name, `undo failed: ${undone.stderr.trim() || "see the journal"}`, "failed");
  return false;
}

/** The agent's JSON-line events as journal envelopes (seq from 1, our clock); lines that are not events are dropped. */
function parseEvents(stdout: string, runId: string, host: string): EventEnvelope[] {
  const at = new Date().toISOString();
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .flatMap((line) => {
      const parsed = parseFrame(agentEventSchema, line);
      return parsed.ok ? [parsed.value] : [];
    })
    .map((event, index) => ({ runId, host, seq: index + 1, at, event }));
}
