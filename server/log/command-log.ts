import type { Redactor } from "../../shared/redactor.js";
import { VERSION } from "../../shared/version.js";
import { openLogFile, type LogFile } from "./log-file.js";
import { createLogger, type Logger } from "./logger.js";
import { prettyLine } from "./pretty-line.js";
import type { LineSink } from "./redacting-stream.js";

export interface CommandLogOptions {
  /** The command's name (`up`, `reset`, `check`): part of the file name and of every line. */
  readonly command: string;
  readonly stateDir: string;
  readonly redactor: Redactor;
  /** `--verbose`: debug level, and every line also on stderr in its one-line form. */
  readonly verbose: boolean;
  /** Where the verbose lines and notices about the log file go. Default: process.stderr. */
  readonly stderr?: (text: string) => void;
}

/** A command's logger, and the file it writes. */
export interface CommandLog {
  readonly log: Logger;
  /** The log file; undefined when it could not be created (a notice said so on stderr). */
  readonly file: string | undefined;
  close(): void;
}

/**
 * The logger of one command run that touches hosts: a JSON-lines file in
 * `<state>/logs/` (openLogFile) at info level, debug with `--verbose`, which
 * also shows every line on stderr (never on stdout, where the live progress
 * is). Every line is redacted by `redactor` before either sees it. The log
 * file is an aid, not a requirement: when it cannot be created or written
 * the command goes on and says so once on stderr.
 */
export function openCommandLog(options: CommandLogOptions): CommandLog {
  const stderr = options.stderr ?? ((text: string) => process.stderr.write(text));
  const notice = (what: string, error: unknown): void => {
    const reason = error instanceof Error ? error.message : String(error);
    stderr(options.redactor.redact(`groundcrew: ${what}: ${reason}; going on without it\n`));
  };
  let file: LogFile | undefined;
  try {
    file = openLogFile(options.stateDir, options.command, (error) => {
      notice(`cannot write the log file ${file?.path ?? ""}`, error);
    });
  } catch (error) {
    notice(`cannot create a log file in ${options.stateDir}`, error);
  }
  const sinks: LineSink[] = [];
  if (file !== undefined) {
    const target = file;
    sinks.push((line) => {
      target.write(line.json);
    });
  }
  if (options.verbose) {
    sinks.push((line) => {
      try {
        stderr(prettyLine(line.record));
      } catch {
        // A closed stderr must not end the run.
      }
    });
  }
  const log = createLogger({
    redactor: options.redactor,
    level: options.verbose ? "debug" : "info",
    sinks,
    base: { pid: process.pid, command: options.command },
  });
  log.info({ version: VERSION, file: file?.path }, `groundcrew ${options.command}`);
  return {
    log,
    file: file?.path,
    close: () => {
      file?.close();
    },
  };
}
