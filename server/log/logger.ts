import { pino, type Logger as PinoLogger } from "pino";
import { isGroundcrewError } from "../../shared/errors.js";
import type { Redactor } from "../../shared/redactor.js";
import { redactingStream, type LineSink } from "./redacting-stream.js";

/**
 * The provisioner's diagnostic logger (pino). Contract for call sites:
 * - `info`: what a run did at its seams (SSH connected and the host-key
 *   decision, agent pushed, agent welcomed/lost/refused, phases, bundle
 *   verified, errors with their codes); `debug`: each remote command, each
 *   journal commit (counts and kinds, never bodies), transfers.
 * - Errors go under `err` (pino serializes message, stack, code, context and
 *   causes); their code also under `code`.
 * - Secrets are never logged on purpose: a `Secret` serializes as
 *   "[redacted]", and every line is redacted by the run's Redactor before it
 *   is written anywhere (see redactingStream).
 */
export type Logger = PinoLogger;

export type LogLevel = "debug" | "info";

export interface LoggerOptions {
  /** The run's secrets: every line is passed through it. Learns new secrets as the run goes. */
  readonly redactor: Redactor;
  readonly level: LogLevel;
  /** Where the redacted lines go. */
  readonly sinks: readonly LineSink[];
  /** Fields on every line. Default: the process id. */
  readonly base?: Readonly<Record<string, string | number>>;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: options.base ?? { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    redactingStream(options.redactor, options.sinks),
  );
}

/** A logger that writes nothing: the default where no logger is given. */
export const silentLogger: Logger = pino({ level: "silent" });

/** The fields an error is logged with: the error itself (serialized by pino) and its code when it has one. */
export function errorFields(error: unknown): { readonly err: unknown; readonly code?: string } {
  return isGroundcrewError(error) ? { err: error, code: error.code } : { err: error };
}
