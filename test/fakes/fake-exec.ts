import type { Exec, ExecResult } from "../../shared/host-io.js";

/**
 * An Exec answering from a table keyed by the argv joined with single spaces.
 * Unknown commands exit 127 like a shell's "command not found". Every call is
 * recorded in `calls`, in order.
 */
export function fakeExec(
  answers: Readonly<Record<string, Partial<ExecResult>>>,
): Exec & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    run(argv) {
      calls.push([...argv]);
      const answer = answers[argv.join(" ")];
      if (answer === undefined)
        return Promise.resolve({ code: 127, stdout: "", stderr: `${argv[0]}: not found` });
      return Promise.resolve({ code: 0, stdout: "", stderr: "", ...answer });
    },
  };
}
