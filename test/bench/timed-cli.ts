import { spawn } from "node:child_process";
import path from "node:path";

/** The compiled CLI that `npm run build` makes. */
const CLI = path.resolve("dist", "server", "cli", "main.js");

/** One line the CLI printed, with when it arrived (ms since the epoch, this machine's clock). */
export interface TimedLine {
  readonly at: number;
  readonly stream: "stdout" | "stderr";
  readonly text: string;
}

export interface TimedRun {
  readonly code: number;
  /** When the CLI process was spawned and when it exited (ms since the epoch). */
  readonly startedAt: number;
  readonly exitedAt: number;
  readonly lines: readonly TimedLine[];
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the compiled CLI (`groundcrew ARGS`) with its own state directory and
 * stamps every output line as it arrives, so provisioner-side moments (an
 * agent transfer starting, the bundle verified) can be placed next to the
 * journal's timestamps. `options.cli` names another build's main.js (default
 * dist/). Never rejects on a non-zero exit; kills the CLI after
 * `options.timeoutMs` (default 15 min).
 */
export function timedGroundcrew(
  stateDir: string,
  args: readonly string[],
  options: { readonly cli?: string; readonly timeoutMs?: number } = {},
): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const cli = options.cli === undefined ? CLI : path.resolve(options.cli);
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, GROUNDCREW_STATE_DIR: stateDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: TimedLine[] = [];
    const text = { stdout: "", stderr: "" };
    const pending = { stdout: "", stderr: "" };
    const take = (stream: "stdout" | "stderr", chunk: Buffer): void => {
      const at = Date.now();
      const decoded = chunk.toString("utf8");
      text[stream] += decoded;
      const parts = (pending[stream] + decoded).split("\n");
      pending[stream] = parts.pop() ?? "";
      for (const part of parts) lines.push({ at, stream, text: part });
    };
    child.stdout.on("data", (chunk: Buffer) => {
      take("stdout", chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      take("stderr", chunk);
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 900_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const exitedAt = Date.now();
      for (const stream of ["stdout", "stderr"] as const) {
        if (pending[stream] !== "") lines.push({ at: exitedAt, stream, text: pending[stream] });
      }
      resolve({
        code: code ?? (signal === null ? 1 : 128),
        startedAt,
        exitedAt,
        lines,
        stdout: text.stdout,
        stderr: text.stderr,
      });
    });
  });
}

/** Throws with the CLI's output unless it exited 0. */
export function mustSucceed(run: TimedRun, what: string): TimedRun {
  if (run.code !== 0) throw new Error(`${what} failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
  return run;
}
