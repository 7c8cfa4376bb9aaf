import { InvalidArgumentError } from "commander";

/** Where commands write: `out` for results (stdout), `progress` for human progress lines (stderr). */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly progress: (message: string) => void;
  /** stdout is a terminal (live redrawn progress); absent means no. */
  readonly isTTY?: boolean;
  /** Raw stderr for diagnostic lines (`--verbose`), written as given; absent means process.stderr. */
  readonly stderr?: (text: string) => void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  progress: (message) => process.stderr.write(`${message}\n`),
  isTTY: process.stdout.isTTY,
  stderr: (text) => process.stderr.write(text),
};

/** Validates a machine-count flag: a whole number from 1 to 32. */
export function parseMachineCount(value: string): number {
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < 1 || count > 32) {
    throw new InvalidArgumentError(`expected a whole number of machines from 1 to 32, got "${value}"`);
  }
  return count;
}

/** Validates a concurrency flag: a whole number from 1 to 256. */
export function parseConcurrency(value: string): number {
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < 1 || count > 256) {
    throw new InvalidArgumentError(`expected a whole number from 1 to 256 for --concurrency, got "${value}"`);
  }
  return count;
}

/** Validates a TCP port flag. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`expected a port from 1 to 65535, got "${value}"`);
  }
  return port;
}
