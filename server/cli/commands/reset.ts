import { createInterface } from "node:readline";
import type { Command } from "commander";
import { GroundcrewError } from "../../../shared/errors.js";
import { terminalSafe } from "../../../shared/terminal-safe.js";
import { loadInventory } from "../../inventory/load.js";
import { reset } from "../../orchestrate/reset.js";
import type { CliIo } from "../io.js";
import { isVerbose, VERBOSE_HELP } from "../verbose.js";
import { fleetRun, runHostCommand } from "../host-command.js";

interface ResetFlags {
  readonly inventory: string;
  readonly yes?: boolean;
  readonly acceptNewHostKeys?: boolean;
  readonly concurrency: string;
  readonly json?: boolean;
}

/** Asks on the terminal; undefined when there is none to ask on. */
export type Confirm = (question: string) => Promise<boolean>;

function terminalConfirm(): Confirm | undefined {
  if (!process.stdin.isTTY) return undefined;
  return (question) =>
    new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      rl.question(question, (answer) => {
        rl.close();
        resolve(answer.trim().toLowerCase() === "yes");
      });
    });
}

export function registerResetCommand(program: Command, io: CliIo, confirm = terminalConfirm): void {
  program
    .command("reset")
    .description(
      "undo `up` on every host: each step's changes, then groundcrew itself; leaves what was there before",
    )
    .requiredOption("-i, --inventory <file>", "inventory (YAML, or an Ansible INI inventory)")
    .option("--yes", "do not ask for confirmation")
    .option("--accept-new-host-keys", "pin the SSH host key of hosts seen for the first time")
    .option("--concurrency <n>", "hosts worked on at once", "10")
    .option("--json", "print events as JSON lines")
    .option("--verbose", VERBOSE_HELP)
    .action(async (flags: ResetFlags, self: Command) => {
      const inventory = await loadInventory(flags.inventory);
      const names = inventory.hosts.map((host) => host.name);
      if (flags.yes !== true) {
        const ask = confirm();
        if (ask === undefined) {
          throw new GroundcrewError(
            "RESET_NOT_CONFIRMED",
            "reset changes every host: pass --yes to run it without a terminal",
          );
        }
        const question = `reset removes groundcrew and what it installed from ${names.length} host(s) (${names.map(terminalSafe).join(", ")}). Type "yes" to go on: `;
        if (!(await ask(question))) {
          throw new GroundcrewError("RESET_NOT_CONFIRMED", "reset not confirmed: nothing was changed");
        }
      }
      const { result, view, out } = await runHostCommand(
        "reset",
        inventory,
        io,
        isVerbose(self),
        async (context) => {
          const { view, options } = await fleetRun(flags, inventory, context);
          const result = await reset(options);
          const out = context.io;
          return { result, view, out };
        },
      );
      view.close();
      const failed = [...result.outcomes].filter(([, outcome]) => outcome !== "reset");
      out.out(
        failed.length === 0
          ? `reset ${result.runId}: all ${result.outcomes.size} host(s) reset\n`
          : `reset ${result.runId}: ${failed.map(([host, outcome]) => `${terminalSafe(host)} ${outcome}`).join(", ")}; run reset again once fixed\n`,
      );
      if (failed.length > 0) process.exitCode = 1;
    });
}
