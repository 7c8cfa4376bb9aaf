import type { Command } from "commander";
import { locateAgentBinary } from "../../agent-binary.js";
import { loadInventory } from "../../inventory/load.js";
import { checkFleet, closeAll } from "../../orchestrate/check-fleet.js";
import { resolveSudoPasswords, terminalAsker } from "../../orchestrate/sudo-passwords.js";
import { KnownHosts } from "../../ssh/known-hosts.js";
import { stateDirPath } from "../../state-dir.js";
import { parseConcurrency, type CliIo } from "../io.js";
import { renderCheckReport } from "../render-check.js";
import { isVerbose, VERBOSE_HELP } from "../verbose.js";
import { redactingIo } from "../redacting-io.js";
import { Redactor } from "../../../shared/redactor.js";
import { openCommandLog } from "../../log/command-log.js";
import { errorFields, type Logger } from "../../log/logger.js";
import type { Inventory } from "../../inventory/types.js";
import type { Secret } from "../../../shared/secret.js";
import { inventorySecrets, redactError } from "../../orchestrate/redaction.js";

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
  const sudoPasswords = await resolveSudoPasswords(inventory, process.env, terminalAsker());
  const redactor = new Redactor(inventorySecrets(inventory, sudoPasswords));
  const stateDir = stateDirPath();
  const logging = openCommandLog({
    command: "check",
    stateDir,
    redactor,
    verbose: flags.verbose === true,
    ...(io.stderr === undefined ? {} : { stderr: io.stderr }),
  });
  try {
    return await checkHosts(
      flags,
      redactingIo(io, redactor),
      inventory,
      sudoPasswords,
      redactor,
      logging.log,
    );
  } catch (error) {
    logging.log.error(errorFields(error), "check failed");
    throw redactError(error, redactor);
  } finally {
    logging.close();
  }
}

async function checkHosts(
  flags: CheckFlags,
  io: CliIo,
  inventory: Inventory,
  sudoPasswords: ReadonlyMap<string, Secret>,
  redactor: Redactor,
  log: Logger,
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
