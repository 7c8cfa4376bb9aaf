import type { Command } from "commander";
import { locateAgentBinary } from "../../agent-binary.js";
import { loadInventory } from "../../inventory/load.js";
import { checkFleet, closeAll } from "../../orchestrate/check-fleet.js";
import { resolveSudoPasswords, terminalAsker } from "../../orchestrate/sudo-passwords.js";
import { KnownHosts } from "../../ssh/known-hosts.js";
import { stateDirPath } from "../../state-dir.js";
import { parseConcurrency, type CliIo } from "../io.js";
import { renderCheckReport } from "../render-check.js";

export interface CheckFlags {
  readonly inventory: string;
  readonly acceptNewHostKeys?: boolean;
  readonly concurrency: string;
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
    .action(async (flags: CheckFlags) => {
      const failed = await runCheckCommand(flags, io);
      if (failed) process.exitCode = 1;
    });
}

/** Resolves true when any check failed. */
export async function runCheckCommand(flags: CheckFlags, io: CliIo): Promise<boolean> {
  const inventory = await loadInventory(flags.inventory);
  const agent = await locateAgentBinary();
  const stateDir = stateDirPath();
  const check = await checkFleet(inventory, {
    agent,
    knownHosts: await KnownHosts.open(stateDir),
    acceptNewHostKeys: flags.acceptNewHostKeys === true,
    sudoPasswords: await resolveSudoPasswords(inventory, process.env, terminalAsker()),
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
