// Runs the benchmarks (never part of the test suite): bundles test/bench/main.ts
// with esbuild into dist/bench/ and runs it with this script's arguments, e.g.
//   npm run bench                 every benchmark
//   npm run bench -- distribution one of them
//   npm run bench -- --quick      small sizes, to try them out
// Prints a markdown table and writes docs/benchmarks.{md,svg,json} (see test/bench/main.ts).
// Lab benchmarks (distribution) need `npm run build` and Docker; journal and agents run on loopback.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist", "bench");
const outfile = path.join(outdir, "main.mjs");
await build({
  absWorkingDir: root,
  // The runner, and the programs load tests fork (they find each other in outdir).
  entryPoints: {
    main: "test/bench/main.ts",
    "server-process": "test/bench/ingest/server-process.ts",
    "agents-process": "test/bench/ingest/agents-process.ts",
  },
  outdir,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  packages: "external",
  logLevel: "warning",
});
const result = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
process.exit(result.status ?? 1);
