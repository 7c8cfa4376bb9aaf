import type { Command } from "commander";
import { createWriteStream } from "node:fs";
import { GroundcrewError } from "../../../shared/errors.js";
import { terminalSafe } from "../../../shared/terminal-safe.js";
import { Journal } from "../../journal/index.js";
import type { RunSummary } from "../../journal/index.js";
import { journalPath } from "../../orchestrate/up.js";
import { stateDirPath } from "../../state-dir.js";
import type { CliIo } from "../io.js";
import { describeEvent } from "../progress/progress-view.js";
import { renderTable } from "../table.js";

/** Opens the journal read-only (works while `up` runs) and picks the run: --run, else the latest. */
function openRun(runId: string | undefined): { journal: Journal; run: RunSummary } {
  const journal = Journal.open(journalPath(stateDirPath()), { readonly: true });
  const run = runId === undefined ? journal.latestRun() : journal.run(runId);
  if (run === undefined) {
    journal.close();
    throw new GroundcrewError(
      "JOURNAL_UNKNOWN_RUN",
      runId === undefined
        ? "the journal has no runs yet: run `groundcrew up`"
        : `no run ${runId} in the journal`,
    );
  }
  return { journal, run };
}

const seconds = (from: string | null, to: string | null): string =>
  from === null
    ? ""
    : `${((Date.parse(to ?? new Date().toISOString()) - Date.parse(from)) / 1000).toFixed(1)} s`;

export function registerJournalCommands(program: Command, io: CliIo): void {
  program
    .command("status")
    .description("per-host state of a run, from the journal (no SSH)")
    .option("--run <id>", "run id (default: the latest)")
    .option("--json", "print as JSON")
    .action((flags: { run?: string; json?: boolean }) => {
      const { journal, run } = openRun(flags.run);
      try {
        const hosts = journal.hostStatus(run.id);
        if (flags.json === true) {
          io.out(`${JSON.stringify({ run, hosts }, null, 2)}\n`);
          return;
        }
        io.out(`run ${run.id} (${run.action}) ${run.outcome ?? "in progress"}, started ${run.startedAt}\n`);
        io.out(
          `${renderTable(
            ["host", "state", "step", "done/total", "duration"],
            hosts.map((host) => [
              terminalSafe(host.host),
              host.state,
              terminalSafe(host.currentStep?.stepId ?? ""),
              `${host.stepsDone}/${host.stepsTotal ?? "?"}`,
              seconds(host.startedAt, host.finishedAt),
            ]),
          )}\n`,
        );
      } finally {
        journal.close();
      }
    });

  program
    .command("logs")
    .description("the events of a run, from the journal")
    .argument("[host]", "only this host")
    .option("--run <id>", "run id (default: the latest)")
    .option("--step <id>", "only this step")
    .option("-f, --follow", "keep printing new events until the run ends")
    .action(async (host: string | undefined, flags: { run?: string; step?: string; follow?: boolean }) => {
      const { journal, run } = openRun(flags.run);
      try {
        let after = 0;
        for (;;) {
          const events = journal.events({
            runId: run.id,
            ...(host === undefined ? {} : { host }),
            ...(flags.step === undefined ? {} : { stepId: flags.step }),
            afterRowId: after,
          });
          for (const event of events) {
            io.out(`${event.at}  ${terminalSafe(event.host)}  ${describeEvent(event)}\n`);
            after = event.rowId;
          }
          if (flags.follow !== true || journal.run(run.id)?.outcome != null) return;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      } finally {
        journal.close();
      }
    });

  program
    .command("journal")
    .description("journal tools")
    .command("export")
    .description("write a run's events as JSON lines (host, seq order)")
    .requiredOption("--run <id>", "run id")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (flags: { run: string; output?: string }) => {
      const { journal, run } = openRun(flags.run);
      try {
        if (flags.output === undefined) {
          journal.exportRun(run.id, io.out);
          return;
        }
        const stream = createWriteStream(flags.output, { mode: 0o600, flags: "wx" });
        const count = journal.exportRun(run.id, (line) => {
          stream.write(line);
        });
        await new Promise<void>((resolve, reject) =>
          stream
            .end(() => {
              resolve();
            })
            .once("error", reject),
        );
        io.progress(`${count} events written to ${flags.output}`);
      } finally {
        journal.close();
      }
    });
}
