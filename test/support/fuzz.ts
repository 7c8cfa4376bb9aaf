import fc from "fast-check";

/**
 * Run settings for a property test. A failure prints the seed and the
 * shrunk counterexample's path; replay exactly that case with
 *
 *   FC_SEED=<seed> FC_PATH=<path> npx vitest run test/unit/<file>
 *
 * FC_RUNS overrides the number of runs (e.g. a long fuzzing session).
 */
export function fuzzParams<T>(numRuns: number): fc.Parameters<T> {
  const seed = process.env["FC_SEED"];
  const path = process.env["FC_PATH"];
  const runs = process.env["FC_RUNS"];
  return {
    numRuns: runs === undefined ? numRuns : Number(runs),
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path, endOnFailure: true }),
  };
}

/** Terminal control sequences a hostile host might print, and control characters alone. */
export const terminalEscapes: fc.Arbitrary<string> = fc.constantFrom(
  "\u001b[2J",
  "\u001b]0;owned\u0007",
  "\u001b[1A\u001b[2K",
  "\u009b31m",
  "\u001bP+q\u001b\\",
  "\r",
  "\b",
  "\u0007",
  "\u0000",
  "\u007f",
);

/** Text as a hostile host would send it: any code points, with terminal escapes mixed in. */
export function hostileText(maxLength: number): fc.Arbitrary<string> {
  return fc
    .array(fc.oneof(fc.string({ unit: "binary", maxLength: 12 }), terminalEscapes), { maxLength: 8 })
    .map((parts) => parts.join("").slice(0, maxLength));
}

/** Characters that would drive a terminal: C0 and C1 controls and DEL. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
