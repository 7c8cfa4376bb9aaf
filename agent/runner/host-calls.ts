import { isGroundcrewError } from "../../shared/errors.js";
import type { Exec, ExecOptions, ExecResult } from "../../shared/host-io.js";
import { StepError } from "./step-error.js";

type Argv = readonly [string, ...string[]];

/** The last non-empty lines of a command's stderr (or stdout), short enough for an error message. */
function tail(result: ExecResult): string {
  const text = (result.stderr.trim() === "" ? result.stdout : result.stderr).trim();
  return text.split("\n").slice(-3).join(" | ").slice(0, 500);
}

/** "`modprobe br_netfilter` exited 1: modprobe: FATAL: Module br_netfilter not found". */
export function describeResult(argv: Argv, result: ExecResult): string {
  const output = tail(result);
  return `\`${argv.join(" ")}\` exited ${result.code}${output === "" ? "" : `: ${output}`}`;
}

/**
 * Runs `argv` and resolves with its result whatever the exit code. A program
 * that cannot be started resolves as exit 127 with the reason on stderr, so
 * callers handle "missing" and "failed" alike.
 */
export async function tryCommand(exec: Exec, argv: Argv, options?: ExecOptions): Promise<ExecResult> {
  try {
    return await exec.run(argv, options);
  } catch (error) {
    if (isGroundcrewError(error)) throw error;
    return { code: 127, stdout: "", stderr: error instanceof Error ? error.message : String(error) };
  }
}

/** Runs `argv` and requires exit 0. Throws StepError HOST_COMMAND_FAILED naming the command, its exit code and output. */
export async function mustRun(exec: Exec, argv: Argv, options?: ExecOptions): Promise<ExecResult> {
  const result = await tryCommand(exec, argv, options);
  if (result.code !== 0) {
    throw new StepError("HOST_COMMAND_FAILED", describeResult(argv, result), {
      context: { command: argv.join(" "), exitCode: result.code },
    });
  }
  return result;
}

/**
 * Runs one file operation; a failure (ENOSPC, EACCES, EROFS…) becomes
 * StepError HOST_IO_FAILED "cannot <what> <path>: <reason>". GroundcrewErrors pass through.
 */
export async function fileOp<T>(what: string, path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (cause) {
    if (isGroundcrewError(cause)) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    const errno =
      cause instanceof Error && "code" in cause && typeof cause.code === "string" ? cause.code : "";
    throw new StepError("HOST_IO_FAILED", `cannot ${what} ${path}: ${reason}`, {
      cause,
      context: { path, ...(errno === "" ? {} : { errno }) },
    });
  }
}
