import type { Exec, ExecOptions, ExecResult } from "../../shared/host-io.js";

/**
 * The answer to one command line: a (partial) result, defaulting to code 0
 * and empty output; an Error, which makes `run` reject as if the program
 * could not be started; or a function computing either (or a promise of
 * either) from the call, e.g. to change a fake file system as the real
 * command would.
 */
export type FakeAnswer =
  | Partial<ExecResult>
  | Error
  | ((
      argv: readonly string[],
      options: ExecOptions | undefined,
    ) => Partial<ExecResult> | Error | Promise<Partial<ExecResult> | Error>);

export interface FakeExecCall {
  readonly argv: readonly string[];
  readonly options: ExecOptions | undefined;
}

export interface FakeExec extends Exec {
  /** Every call, in order, including unanswered ones. */
  readonly calls: FakeExecCall[];
  /** The command lines run so far, argv joined with spaces, in order. */
  commandLines(): string[];
  /** Adds or replaces the answer to one command line (argv joined with single spaces). */
  answer(commandLine: string, answer: FakeAnswer): void;
}

/** Result for a command line with no answer: what a shell says for an unknown program. */
export const NOT_FOUND: ExecResult = { code: 127, stdout: "", stderr: "not found" };

/** A fake Exec answering from a map keyed by argv joined with single spaces. */
export function fakeExec(answers: Readonly<Record<string, FakeAnswer>> = {}): FakeExec {
  const table = new Map(Object.entries(answers));
  const calls: FakeExecCall[] = [];
  return {
    calls,
    commandLines: () => calls.map((call) => call.argv.join(" ")),
    answer(commandLine, answer) {
      table.set(commandLine, answer);
    },
    async run(argv, options) {
      calls.push({ argv: [...argv], options });
      const answer = table.get(argv.join(" "));
      if (answer === undefined) return { ...NOT_FOUND };
      const outcome = typeof answer === "function" ? await answer(argv, options) : answer;
      if (outcome instanceof Error) throw outcome;
      return { code: outcome.code ?? 0, stdout: outcome.stdout ?? "", stderr: outcome.stderr ?? "" };
    },
  };
}
