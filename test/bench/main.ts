import { distribution } from "./distribution.js";

/** Every benchmark by name; each prints a markdown section and runs alone with `npm run bench -- NAME`. */
const BENCHMARKS: Readonly<Record<string, () => Promise<string>>> = { distribution };

async function main(names: readonly string[]): Promise<number> {
  const unknown = names.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: unknown benchmark(s) ${unknown.join(", ")}; known: ${Object.keys(BENCHMARKS).join(", ")}\n`,
    );
    return 2;
  }
  for (const name of names.length === 0 ? Object.keys(BENCHMARKS) : names) {
    const benchmark = BENCHMARKS[name];
    if (benchmark !== undefined) process.stdout.write(`${await benchmark()}\n`);
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
