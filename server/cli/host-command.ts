import { Redactor } from "../../shared/redactor.js";
import type { Secret } from "../../shared/secret.js";
import type { Inventory } from "../inventory/types.js";
import { openCommandLog } from "../log/command-log.js";
import { errorFields, type Logger } from "../log/logger.js";
import { inventorySecrets, redactError } from "../orchestrate/redaction.js";
import { resolveSudoPasswords, terminalAsker } from "../orchestrate/sudo-passwords.js";
import { stateDirPath } from "../state-dir.js";
import { locateAgentBinary } from "../agent-binary.js";
import { KnownHosts } from "../ssh/known-hosts.js";
import { parseConcurrency, type CliIo } from "./io.js";
import { ProgressView, type ProgressMode } from "./progress/progress-view.js";
import { viewReporter } from "./progress/view-reporter.js";
import { redactingIo } from "./redacting-io.js";

/** What a command that touches hosts works with once its secrets are known. */
export interface HostCommandContext {
  /** The terminal, every line redacted. */
  readonly io: CliIo;
  readonly sudoPasswords: ReadonlyMap<string, Secret>;
  /** Knows the inventory's secrets; the command adds those it makes (keys, tokens). */
  readonly redactor: Redactor;
  readonly log: Logger;
}

/**
 * Runs a command that touches the inventory's hosts (`up`, `check`,
 * `reset`): resolves the sudo passwords (environment, else asked once on the
 * terminal, before any host is touched), builds the Redactor of the
 * inventory's secrets, opens the command's log (server/log/; debug on stderr
 * with `verbose`) and runs `body`. An error it throws is logged and rethrown
 * with the secrets redacted; the log is closed whatever happens.
 */
export async function runHostCommand<T>(
  command: string,
  inventory: Inventory,
  terminal: CliIo,
  verbose: boolean,
  body: (context: HostCommandContext) => Promise<T>,
): Promise<T> {
  const sudoPasswords = await resolveSudoPasswords(inventory, process.env, terminalAsker());
  const redactor = new Redactor(inventorySecrets(inventory, sudoPasswords));
  const logging = openCommandLog({
    command,
    stateDir: stateDirPath(),
    redactor,
    verbose,
    ...(terminal.stderr === undefined ? {} : { stderr: terminal.stderr }),
  });
  try {
    return await body({ io: redactingIo(terminal, redactor), sudoPasswords, redactor, log: logging.log });
  } catch (error) {
    logging.log.error(errorFields(error), `${command} failed`);
    throw redactError(error, redactor);
  } finally {
    logging.close();
  }
}

/** The flags every command that works on the whole fleet with a live view takes. */
export interface FleetFlags {
  readonly acceptNewHostKeys?: boolean;
  readonly concurrency: string;
  readonly json?: boolean;
}

/**
 * The live view of a fleet command (redrawn on a terminal, plain lines, or
 * JSON with `--json`) and the options `up` and `reset` share: inventory,
 * state dir, agent, pinned host keys, secrets, log, concurrency and a
 * reporter drawing on that view.
 */
export async function fleetRun(flags: FleetFlags, inventory: Inventory, context: HostCommandContext) {
  const { io, sudoPasswords, redactor, log } = context;
  const mode: ProgressMode = flags.json === true ? "json" : io.isTTY === true ? "tty" : "lines";
  const view = new ProgressView(
    inventory.hosts.map((host) => host.name),
    { write: io.out },
    mode,
  );
  const options = {
    inventory,
    stateDir: stateDirPath(),
    agent: await locateAgentBinary(),
    knownHosts: await KnownHosts.open(stateDirPath()),
    acceptNewHostKeys: flags.acceptNewHostKeys === true,
    sudoPasswords,
    redactor,
    log,
    concurrency: parseConcurrency(flags.concurrency),
    reporter: viewReporter(view, io.progress, log),
  };
  return { view, options };
}
