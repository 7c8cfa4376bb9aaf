import { fork, type ChildProcess } from "node:child_process";
import { z } from "zod";

/**
 * Request/response over a forked child's IPC channel, one request at a
 * time, every message validated with its schema on arrival. A child
 * reports a failure as `{ type: "failed", message }`; it rejects the request.
 */

const failedSchema = z.object({ type: z.literal("failed"), message: z.string() }).strict();

export class Child {
  readonly #process: ChildProcess;
  #exited: Promise<number>;

  private constructor(process: ChildProcess) {
    this.#process = process;
    this.#exited = new Promise((resolve) => {
      process.once("exit", (code, signal) => {
        resolve(code ?? (signal === null ? 1 : 128));
      });
    });
  }

  /** Forks `module` (a bundled entry next to the benchmark runner) with Node options `execArgv`. */
  static start(module: string, execArgv: readonly string[] = []): Child {
    return new Child(
      fork(module, [], { execArgv: [...execArgv], stdio: ["ignore", "inherit", "inherit", "ipc"] }),
    );
  }

  get pid(): number {
    return this.#process.pid ?? 0;
  }

  /** Sends `message` and resolves with the next message, parsed with `reply`. */
  request<T>(message: object, reply: z.ZodType<T, z.ZodTypeDef, unknown>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const child = this.#process;
      const done = (): void => {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
      };
      const onMessage = (raw: unknown): void => {
        done();
        const failed = failedSchema.safeParse(raw);
        if (failed.success) {
          reject(new Error(failed.data.message));
          return;
        }
        const parsed = reply.safeParse(raw);
        if (parsed.success) resolve(parsed.data);
        else
          reject(
            new Error(`unexpected reply from child ${this.pid}: ${parsed.error.issues[0]?.message ?? "?"}`),
          );
      };
      const onExit = (code: number | null): void => {
        done();
        reject(new Error(`child ${this.pid} exited (${code ?? "signal"}) before replying`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`child ${this.pid} did not reply within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on("message", onMessage);
      child.once("exit", onExit);
      child.send(message);
    });
  }

  /** Waits for the child to exit; kills it when it has not after `graceMs`. Resolves with its status. */
  async stop(graceMs = 5000): Promise<number> {
    const timer = setTimeout(() => {
      this.#process.kill("SIGKILL");
    }, graceMs);
    const code = await this.#exited;
    clearTimeout(timer);
    return code;
  }

  kill(): void {
    if (this.#process.exitCode === null) this.#process.kill("SIGKILL");
  }
}

/** For a child: handles each request with `handle` and sends its result (or `failed`). */
export function serveRequests<T>(
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  handle: (request: T) => Promise<object>,
): void {
  const send = (message: object): void => {
    process.send?.(message);
  };
  process.on("message", (raw: unknown) => {
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      send({ type: "failed", message: `invalid request: ${parsed.error.issues[0]?.message ?? "?"}` });
      return;
    }
    handle(parsed.data).then(send, (error: unknown) => {
      send({
        type: "failed",
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    });
  });
}
