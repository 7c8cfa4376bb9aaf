// Runs the benchmarks (never part of the test suite): bundles test/bench/main.ts
// with esbuild into dist/bench/ and runs it with this script's arguments, e.g.
//   npm run bench                 every benchmark
//   npm run bench -- distribution one of them
// Needs `npm run build` (the CLI and agent under dist/) and Docker for lab machines.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outfile = path.join(root, "dist", "bench", "main.mjs");
await build({
  absWorkingDir: root,
  entryPoints: ["test/bench/main.ts"],
  outfile,
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
