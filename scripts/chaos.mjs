// `npm run chaos`: the lab chaos suite and the delivery model (vitest project "chaos", never part
// of `npm test`), then docs/reliability.md from their figures, printed and written. Takes the lab
// lock (/tmp/groundcrew-lab.lock) itself: do not wrap it in flock. Needs `npm run build` and Docker.
// CHAOS_MODEL_SEED=<seed> replays the delivery model's drawn seed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const LAB_LOCK = "/tmp/groundcrew-lab.lock";
const LOCKED = "--holding-lab-lock";

if (process.argv[2] !== LOCKED) {
  // Runs this script again under the lab lock, so that the time reported starts once it is held.
  console.error(`chaos: taking the lab lock ${LAB_LOCK} (waits while other lab tests run)`);
  const locked = spawnSync("flock", [LAB_LOCK, process.execPath, fileURLToPath(import.meta.url), LOCKED], {
    cwd: root,
    stdio: "inherit",
  });
  process.exitCode = locked.status ?? 1;
} else {
  const started = Date.now();
  const figures = mkdtempSync(path.join(tmpdir(), "groundcrew-chaos-"));
  try {
    process.exitCode = await chaos(figures, started);
  } finally {
    rmSync(figures, { recursive: true, force: true });
  }
}

/** Runs the suite, then the report (records go to `figures`); resolves the exit status. */
async function chaos(figures, started) {
  const vitest = spawnSync(
    process.execPath,
    [path.join(root, "node_modules", "vitest", "vitest.mjs"), "run", "--project", "chaos"],
    { cwd: root, stdio: "inherit", env: { ...process.env, CHAOS_FIGURES_DIR: figures } },
  );
  if (vitest.status !== 0) {
    console.error("chaos: the suite failed; docs/reliability.md left as it was");
    return vitest.status ?? 1;
  }
  const outfile = path.join(root, "dist", "chaos", "report.mjs");
  await build({
    absWorkingDir: root,
    entryPoints: ["test/chaos/report-main.ts"],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    packages: "external",
    logLevel: "warning",
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const report = spawnSync(
    process.execPath,
    [outfile, "--figures", figures, "--out", path.join(root, "docs", "reliability.md"), "--seconds", seconds],
    { cwd: root, stdio: "inherit" },
  );
  return report.status ?? 1;
}
