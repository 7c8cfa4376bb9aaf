import type { Command } from "commander";
import { locateAgentBinary } from "../../agent-binary.js";
import { loadInventory } from "../../inventory/load.js";
import { checkFleet, closeAll } from "../../orchestrate/check-fleet.js";
import { KnownHosts } from "../../ssh/known-hosts.js";
import { stateDirPath } from "../../state-dir.js";
import { parseConcurrency, type CliIo } from "../io.js";
import { renderCheckReport } from "../render-check.js";
import { isVerbose, VERBOSE_HELP } from "../verbose.js";
import { runHostCommand, type HostCommandContext } from "../host-command.js";
import type { Inventory } from "../../inventory/types.js";

export interface CheckFlags {
  readonly inventory: string;
  readonly acceptNewHostKeys?: boolean;
  readonly concurrency: string;
  /** Debug lines on stderr and in the log file. */
  readonly verbose?: boolean;
}

/** `groundcrew check`: reach every host, gather facts, run the preflights. Changes nothing but the agent's cache. */
export function registerCheckCommand(program: Command, io: CliIo): void {
  program
    .command("check")
    .description(
      "reach every host over SSH, gather facts and run the preflights; changes nothing on the hosts",
    )
    .requiredOption("-i, --inventory <file>", "inventory (YAML, or an Ansible INI inventory)")
    .option("--accept-new-host-keys", "pin the SSH host key of hosts seen for the first time")
    .option("--concurrency <n>", "hosts worked on at once", "10")
    .option("--verbose", VERBOSE_HELP)
    .action(async (flags: CheckFlags, self: Command) => {
      const failed = await runCheckCommand({ ...flags, verbose: isVerbose(self) }, io);
      if (failed) process.exitCode = 1;
    });
}

/** Resolves true when any check failed. Its log and the error it throws have the inventory's secrets redacted. */
export async function runCheckCommand(flags: CheckFlags, io: CliIo): Promise<boolean> {
  const inventory = await loadInventory(flags.inventory);
  return runHostCommand("check", inventory, io, flags.verbose === true, (context) =>
    checkHosts(flags, inventory, context),
  );
}

async function checkHosts(
  flags: CheckFlags,
  inventory: Inventory,
  { io, sudoPasswords, redactor, log }: HostCommandContext,
): Promise<boolean> {
  const stateDir = stateDirPath();
  const check = await checkFleet(inventory, {
    agent: await locateAgentBinary(),
    knownHosts: await KnownHosts.open(stateDir),
    acceptNewHostKeys: flags.acceptNewHostKeys === true,
    sudoPasswords,
    redactor,
    log,
    concurrency: parseConcurrency(flags.concurrency),
    onTransfer: (host, bytesDone, bytesTotal) => {
      if (bytesDone === bytesTotal)
        io.progress(`${host}: agent sent (${(bytesTotal / 2 ** 20).toFixed(0)} MiB)`);
    },
    onProbed: (host, probe) => {
      io.progress(`${host}: ${probe.ok ? "facts gathered" : `${probe.failedAt} failed`}`);
    },
  });
  closeAll(check.connections);
  io.out(
    renderCheckReport(
      inventory.hosts.map((host) => host.name),
      check.results,
    ),
  );
  return check.failed;
}
