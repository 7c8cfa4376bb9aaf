import type { Command } from "commander";

/**
 * `--verbose`: the program's own option (`groundcrew --verbose up ...`), and
 * each command that logs has it too, so it may also follow the command
 * (`groundcrew up -i fleet.yaml --verbose`).
 */
export const VERBOSE_HELP = "diagnostic lines (debug level) on stderr, and in the log file (<state>/logs/)";

/** Whether `--verbose` was given to `command` or to the program before it. */
export function isVerbose(command: Command): boolean {
  return command.optsWithGlobals<{ verbose?: boolean }>().verbose === true;
}
