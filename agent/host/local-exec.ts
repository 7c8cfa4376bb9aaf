import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { Exec, ExecOptions, ExecResult } from "../../shared/host-io.js";

/**
 * Exec for the machine this process runs on: argv straight to spawn (no
 * shell). Resolves with the exit code; a child killed by a signal gets
 * 128 + the signal's number, one killed for its timeout gets 124.
 * Rejects only when the program cannot be started.
 */
export const localExec: Exec = {
  run(argv: readonly [string, ...string[]], options: ExecOptions = {}): Promise<ExecResult> {
    const [program, ...args] = argv;
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, {
        env: options.env === undefined ? process.env : { ...process.env, ...options.env },
        stdio: ["pipe", "pipe", "pipe"],
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let timedOut = false;
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              child.kill("SIGKILL");
            }, options.timeoutMs);
      child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
      child.stdin.on("error", () => undefined);
      child.once("error", (error) => {
        if (timer !== undefined) clearTimeout(timer);
        reject(error);
      });
      child.once("close", (code, signal) => {
        if (timer !== undefined) clearTimeout(timer);
        const signalCode =
          signal === null ? 0 : 128 + ((constants.signals[signal] as number | undefined) ?? 0);
        resolve({
          code: timedOut ? 124 : (code ?? signalCode),
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: Buffer.concat(stderr).toString("utf8"),
        });
      });
      child.stdin.end(options.input);
    });
  },
};
