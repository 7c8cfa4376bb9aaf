import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";

const CLI = path.resolve("dist", "server", "cli", "main.js");

export interface UpEnd {
  /** Exit status, null when a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `groundcrew ARGS` (the compiled CLI) as a child process whose output can
 * be watched while it runs, and which can be killed (`kill -9` of the
 * provisioner).
 */
export class CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly ended: Promise<UpEnd>;
  #stdout = "";
  #stderr = "";
  #end: UpEnd | undefined;

  constructor(stateDir: string, args: readonly string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, GROUNDCREW_STATE_DIR: stateDir },
    });
    this.child.stdout.on("data", (chunk: Buffer) => {
      this.#stdout += chunk.toString();
    });
    this.child.stderr.on("data", (chunk: Buffer) => {
      this.#stderr += chunk.toString();
    });
    this.ended = new Promise((resolve) => {
      this.child.once("close", (code, signal) => {
        this.#end = { code, signal, stdout: this.#stdout, stderr: this.#stderr };
        resolve(this.#end);
      });
    });
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Whether it has exited. */
  get done(): boolean {
    return this.#end !== undefined;
  }

  /** SIGKILL, and resolves once it is gone. */
  async kill9(): Promise<UpEnd> {
    if (this.#end === undefined) this.child.kill("SIGKILL");
    return this.ended;
  }

  /**
   * Resolves once `test` holds (polled every `everyMs`); rejects naming
   * `what` when the process ended first or `timeoutMs` passed.
   */
  async until(
    what: string,
    test: () => Promise<boolean> | boolean,
    timeoutMs: number,
    everyMs = 500,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await test()) return;
      if (this.#end !== undefined)
        throw new Error(`groundcrew ended before ${what}:\n${this.#stdout}\n${this.#stderr}`);
      if (Date.now() > deadline)
        throw new Error(`not ${what} within ${timeoutMs / 1000} s:\n${this.#stdout}\n${this.#stderr}`);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}
