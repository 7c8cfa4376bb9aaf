import type { ChaosRecord, ModelRecord, ScenarioRecord } from "./chaos-figures.js";

/** The promises ("Our promises" of the reliability notes) the chaos rows prove, in short. */
export const PROMISES: Readonly<Record<number, string>> = {
  1: "every event an agent emits lands in the journal exactly once, in order per host (outbox on disk before send, ack after commit, idempotent insert, resend after reconnect)",
  3: "steps may run more than once but converge: a run resumes by step id, and a step that was in flight when something died runs again from its `check`",
  4: "nothing waits forever: reconnect with backoff and jitter, ping/pong deadlines on both sides, a host silent past its deadline is marked lost",
  5: "identity comes from the certificate: a second live agent with a host's certificate is refused and reported",
};

export interface ReportMeta {
  /** When the suite ran (ISO 8601). */
  readonly at: string;
  /** Wall time of the whole `npm run chaos`, in seconds. */
  readonly seconds: number;
}

/** A table cell: no pipes or line breaks that would break the row. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll(/\s*\n\s*/g, " ");
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(" | ")} |`;
}

function sum(record: ScenarioRecord, key: "emitted" | "journaled" | "duplicated" | "lost"): number {
  return record.hosts.reduce((total, host) => total + host[key], 0);
}

/** "42 (14 / 14 / 14)": the total and each host's share, in host order. */
function perHost(record: ScenarioRecord, key: "emitted" | "journaled" | "duplicated" | "lost"): string {
  return `${sum(record, key)} (${record.hosts.map((host) => host[key]).join(" / ")})`;
}

function scenarioRow(record: ScenarioRecord): string {
  const proves = [
    `promise ${record.promises.join(", ")}`,
    `fault ${record.faults.join(", ")}`,
    `run \`${record.runId}\`, ${record.seconds.toFixed(0)} s`,
  ].join("; ");
  return row([
    cell(record.scenario),
    `${cell(record.happened)} (${proves})`,
    perHost(record, "emitted"),
    perHost(record, "journaled"),
    String(sum(record, "duplicated")),
    String(sum(record, "lost")),
  ]);
}

function modelRow(record: ModelRecord): string {
  return row([
    `Delivery model, seed ${record.seed} (${record.hosts} hosts, simulated link)`,
    `${cell(record.line)} (promise 1; faults 1, 2, 4, 5, 6; ${record.seconds.toFixed(0)} s)`,
    String(record.emitted),
    String(record.journaled),
    `0 (${record.deduped} duplicate frames deduped)`,
    String(record.lost),
  ]);
}

/**
 * docs/reliability.md from the chaos suite's records: an introduction
 * naming the promises the rows prove, the table (scenario → what happened →
 * emitted / journaled / duplicated / lost), how the figures are counted and
 * how to rerun. Rows come in record id order. Throws when there is no record.
 */
export function renderReliability(records: readonly ChaosRecord[], meta: ReportMeta): string {
  if (records.length === 0) throw new Error("no chaos records: did the chaos suite run?");
  const scenarios = records.filter((record): record is ScenarioRecord => record.kind === "lab");
  const models = records.filter((record): record is ModelRecord => record.kind === "model");
  const proven = [
    ...new Set(records.flatMap((record) => (record.kind === "lab" ? record.promises : [1]))),
  ].sort((a, b) => a - b);
  const lines = [
    "# Reliability: faults staged, events counted",
    "",
    "`npm run chaos` stages the faults groundcrew promises to survive on a 3-machine lab (real",
    "systemd machines, the compiled CLI, the agent executable) and runs the delivery model; it",
    "prints this table and writes this file. Each lab row is one `up` run hit by one fault while a",
    "host is in the middle of a step, and every row must end with the run succeeded. The rows prove",
    "these promises of groundcrew's reliability notes:",
    "",
    ...proven.map(
      (number) => `- **Promise ${number}**: ${PROMISES[number] ?? "(see the reliability notes)"}`,
    ),
    "",
    "| Scenario | What happened | Emitted | Journaled | Duplicated | Lost |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
    ...scenarios.map(scenarioRow),
    ...models.map(modelRow),
    "",
    "How the figures are counted, per host, for the scenario's run (lab rows: total, then node1 / node2 / node3):",
    "",
    "- **Emitted**: on the host, independent of the journal: the highest seq the agent's outbox",
    "  assigned (`acked.json` and the event files still waiting under",
    "  `/var/lib/groundcrew/agent/state/outbox/<run>/`; seqs are gapless).",
    "- **Journaled**: the run's rows for the host in the provisioner's journal (`groundcrew journal export`).",
    "- **Duplicated**: a (host, seq) journaled twice, a step with more than one final result",
    "  (succeeded, skipped or failed), or more than one `run.finished`.",
    "- **Lost**: emitted seqs missing from the journal, plus journaled seqs the agent never emitted;",
    "  every lab row also requires the outbox to end empty (everything acknowledged).",
    "- Delivery model rows: the real outbox, `OutboxDelivery`, `AgentClient`, `AgentHub` and SQLite",
    "  journal over a simulated link that drops, duplicates, reorders, delays and replays frames, cuts",
    "  hosts off and kills agents and the provisioner at random, in virtual time from one seed.",
    "",
    "## Rerun",
    "",
    "```bash",
    "npm run build     # the CLI and the agent executable the lab runs",
    "npm run chaos     # takes the lab lock (/tmp/groundcrew-lab.lock) itself; do not wrap it in flock",
    "# one scenario, figures not written:",
    'flock /tmp/groundcrew-lab.lock npx vitest run --project chaos -t "reboots"',
    "```",
    "",
    "The model's second seed is drawn afresh on every run (`CHAOS_MODEL_SEED=<seed> npm run chaos`",
    "replays one). The suite lives in `test/chaos/`; faults are staged while a host is held inside",
    "`host.sysctl` by a test double in front of `sysctl` (`test/doubles/hold/sysctl.sh`).",
    "",
    `Last run: ${meta.at}, ${(meta.seconds / 60).toFixed(1)} min for the whole \`npm run chaos\`.`,
    "",
  ];
  return lines.join("\n");
}
