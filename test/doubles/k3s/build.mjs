#!/usr/bin/env node
// Builds the k3s test double as one executable, exactly as
// scripts/build-agent.mjs builds the agent: esbuild bundles
// test/doubles/k3s/main.ts into one CommonJS file, Node's single-executable
// tooling makes a blob of it, and postject injects the blob into a copy of
// this Node binary. The result runs on lab machines, which have no Node.
//
// Contract: writes <out>/k3s-double-linux-<arch> (default out: dist-test/)
// atomically: everything is built in a private temporary directory and the
// executable is renamed into place, so concurrent builds never expose a
// partial file. Test-only: never shipped, never part of `npm run build`.
//
// Usage: node test/doubles/k3s/build.mjs [--out DIR]
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile, chmod } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postject from "postject";

const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..", "..");

function parseArgs(argv) {
  const outIndex = argv.indexOf("--out");
  if (outIndex === -1) return { outDir: path.join(root, "dist-test") };
  const value = argv[outIndex + 1];
  if (value === undefined || value.startsWith("--")) throw new Error("--out needs a directory");
  return { outDir: path.resolve(value) };
}

function targetName() {
  const arch = { x64: "x64", arm64: "arm64" }[process.arch];
  if (process.platform !== "linux" || arch === undefined) {
    throw new Error(
      `the k3s double is built for Linux x64/arm64; this Node is ${process.platform}/${process.arch}`,
    );
  }
  return `k3s-double-linux-${arch}`;
}

async function main() {
  const { outDir } = parseArgs(process.argv.slice(2));
  await mkdir(outDir, { recursive: true });
  const work = await mkdtemp(path.join(outDir, ".k3s-double-build-"));
  try {
    const bundle = path.join(work, "k3s-double.cjs");
    await build({
      absWorkingDir: root,
      entryPoints: [path.join(here, "main.ts")],
      outfile: bundle,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      minify: false,
      sourcemap: false,
      legalComments: "none",
      logLevel: "warning",
    });
    const blob = path.join(work, "sea-prep.blob");
    const seaConfig = path.join(work, "sea-config.json");
    await writeFile(
      seaConfig,
      JSON.stringify({
        main: path.basename(bundle),
        output: path.basename(blob),
        disableExperimentalSEAWarning: true,
        useSnapshot: false,
        useCodeCache: false,
      }),
    );
    execFileSync(process.execPath, ["--experimental-sea-config", path.basename(seaConfig)], {
      cwd: work,
      stdio: ["ignore", "ignore", "inherit"],
    });
    const partial = path.join(work, targetName());
    await copyFile(process.execPath, partial);
    await chmod(partial, 0o755);
    await postject.inject(partial, "NODE_SEA_BLOB", await readFile(blob), { sentinelFuse: SEA_FUSE });
    const target = path.join(outDir, targetName());
    await rename(partial, target);
    console.log(`k3s double: ${path.relative(process.cwd(), target) || target}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`build k3s double: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
