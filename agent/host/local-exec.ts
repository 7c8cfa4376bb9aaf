import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { Exec, ExecOptions, ExecResult } from "../../shared/host-io.js";

/** The exit code a command killed for its timeout reports (as timeout(1) does). */
export const TIMEOUT_EXIT_CODE = 124;

/** Shell convention for a child killed by a signal: 128 + the signal's number. */
function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/**
 * Exec for the machine this process runs on. Contract (see shared/host-io.ts):
 * - argv goes straight to spawn, never through a shell;
 * - stdout and stderr are collected whole and decoded as UTF-8;
 * - `input` is written to stdin, which is then closed (stdin is always closed);
 * - `env` is merged over this process's environment;
 * - `timeoutMs` SIGKILLs the child and resolves with code 124; output read so
 *   far is kept, and a grandchild still holding the pipes does not delay it;
 * - a child killed by a signal resolves with 128 + the signal's number;
 * - rejects only when the program cannot be started (spawn's 'error').
 */
export const localExec: Exec = {
  run(argv, options: ExecOptions = {}): Promise<ExecResult> {
    const [program, ...args] = argv;
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, {
        env: options.env === undefined ? process.env : { ...process.env, ...options.env },
        stdio: ["pipe", "pipe", "pipe"],
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let timedOut = false;
      let exited = false;
      let settled = false;
      // Once the child is gone, a grandchild may still hold the pipes open; after a timeout, stop waiting.
      const abandonPipes = (): void => {
        child.stdout.destroy();
        child.stderr.destroy();
      };
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              if (exited) abandonPipes();
              else child.kill("SIGKILL");
            }, options.timeoutMs);
      const finish = (): void => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
      };
      child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
      // A child that exits without reading its input makes the write fail with EPIPE: not our error.
      child.stdin.on("error", () => undefined);
      child.once("error", (error) => {
        if (settled) return;
        finish();
        reject(error);
      });
      child.once("exit", () => {
        exited = true;
        if (timedOut) abandonPipes();
      });
      child.once("close", (code, signal) => {
        if (settled) return;
        finish();
        resolve({
          code: timedOut ? TIMEOUT_EXIT_CODE : (code ?? (signal === null ? 0 : signalExitCode(signal))),
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8"),
        });
      });
      child.stdin.end(options.input);
    });
  },
};
