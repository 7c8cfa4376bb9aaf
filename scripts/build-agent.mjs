#!/usr/bin/env node
// Builds the agent as one executable: esbuild bundles agent/main.ts into a
// single CommonJS file, Node's single-executable-application tooling turns it
// into a blob, and postject injects the blob into a copy of this Node binary.
//
// Contract: same sources, same lock file and same Node binary give a
// byte-identical executable (no timestamps, no code cache, no absolute paths),
// and the sha256 printed on the last line identifies it.
//
// Usage: node scripts/build-agent.mjs [--out DIR]   (default: dist)
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rename, rm, writeFile, chmod } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postject from "postject";

const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function parseArgs(argv) {
  const outIndex = argv.indexOf("--out");
  if (outIndex === -1) return { outDir: path.join(root, "dist") };
  const value = argv[outIndex + 1];
  if (value === undefined || value.startsWith("--")) throw new Error("--out needs a directory");
  return { outDir: path.resolve(value) };
}

function targetName() {
  const arch = { x64: "x64", arm64: "arm64" }[process.arch];
  if (process.platform !== "linux" || arch === undefined) {
    throw new Error(
      `the agent is built for Linux x64/arm64 hosts; this Node is ${process.platform}/${process.arch}`,
    );
  }
  return `groundcrew-agent-linux-${arch}`;
}

async function sha256(file) {
  return createHash("sha256")
    .update(await readFile(file))
    .digest("hex");
}

async function main() {
  const { outDir } = parseArgs(process.argv.slice(2));
  const work = path.join(outDir, "agent-build");
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });

  const bundle = path.join(work, "agent.cjs");
  await build({
    absWorkingDir: root,
    entryPoints: ["agent/main.ts"],
    outfile: bundle,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: false,
    sourcemap: false,
    legalComments: "none",
    logLevel: "warning",
    // ws tries its optional native add-ons; a single executable can only
    // require built-ins (and Node warns on every start when it tries), so
    // ws is told to use its pure-JS code paths.
    define: {
      "process.env.WS_NO_BUFFER_UTIL": '"1"',
      "process.env.WS_NO_UTF_8_VALIDATE": '"1"',
    },
  });

  const blob = path.join(work, "sea-prep.blob");
  const seaConfig = path.join(work, "sea-config.json");
  await writeFile(
    seaConfig,
    // Relative paths, resolved in the work directory: the blob records `main`,
    // and an absolute path would make the executable depend on where it was built.
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

  const target = path.join(outDir, targetName());
  const partial = `${target}.partial`;
  await copyFile(process.execPath, partial);
  await chmod(partial, 0o755);
  await postject.inject(partial, "NODE_SEA_BLOB", await readFile(blob), { sentinelFuse: SEA_FUSE });
  await rename(partial, target);

  const digest = await sha256(target);
  await writeFile(`${target}.sha256`, `${digest}  ${path.basename(target)}\n`);
  console.log(`agent: ${path.relative(process.cwd(), target) || target}`);
  console.log(`sha256: ${digest}`);
}

main().catch((error) => {
  console.error(`build-agent: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
