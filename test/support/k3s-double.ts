import { execFile } from "node:child_process";
import { mkdir, open, readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The double's sources (and its build script): a change to any of them makes the executable stale. */
const SOURCES = path.resolve("test", "doubles", "k3s");
const BUILD_SCRIPT = path.join(SOURCES, "build.mjs");
/** Bundled dependencies (yaml, zod, node-forge) are pinned here. */
const LOCK_FILE = path.resolve("package-lock.json");
const OUT_DIR = path.resolve("dist-test");
const LOCK = path.join(OUT_DIR, ".k3s-double.lock");
/** A build lock older than this is abandoned (a build takes well under a minute). */
const STALE_LOCK_MS = 5 * 60_000;

let pending: Promise<string> | undefined;

/** The executable's path for this machine: dist-test/k3s-double-linux-<arch>. */
export function k3sDoublePath(): string {
  const arch = process.arch === "x64" || process.arch === "arm64" ? process.arch : "x64";
  return path.join(OUT_DIR, `k3s-double-linux-${arch}`);
}

/**
 * The absolute path of the k3s test double executable, built first when it
 * is missing or older than any file under test/doubles/k3s or the lock file.
 * Safe to call concurrently: calls in one process share one build, and
 * processes (vitest workers) take a lock file in dist-test/ so only one
 * builds while the others wait and then reuse its result; the build itself
 * renames a finished file into place, so a reader never sees a partial one.
 */
export function ensureK3sDouble(): Promise<string> {
  pending ??= ensure().finally(() => {
    pending = undefined;
  });
  return pending;
}

async function ensure(): Promise<string> {
  const target = k3sDoublePath();
  if (await isFresh(target)) return target;
  await mkdir(OUT_DIR, { recursive: true });
  const release = await acquireLock();
  try {
    if (!(await isFresh(target))) {
      await run(process.execPath, [BUILD_SCRIPT, "--out", OUT_DIR], { maxBuffer: 1 << 22 });
    }
  } finally {
    await release();
  }
  if (!(await isFresh(target))) throw new Error(`the k3s double build did not produce a fresh ${target}`);
  return target;
}

async function isFresh(target: string): Promise<boolean> {
  const built = await stat(target).catch(() => undefined);
  if (built === undefined) return false;
  return built.mtimeMs >= (await newestSource());
}

async function newestSource(): Promise<number> {
  const files = (await readdir(SOURCES, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
  const times = await Promise.all([...files, LOCK_FILE].map(async (file) => (await stat(file)).mtimeMs));
  return Math.max(0, ...times);
}

/** Takes the cross-process build lock (O_EXCL file holding our pid); returns its release. */
async function acquireLock(): Promise<() => Promise<void>> {
  for (;;) {
    try {
      const handle = await open(LOCK, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(LOCK, { force: true });
    } catch (error) {
      if (!(error instanceof Error && "code" in error && error.code === "EEXIST")) throw error;
    }
    if (await isAbandoned()) {
      await rm(LOCK, { force: true });
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function isAbandoned(): Promise<boolean> {
  const [info, text] = await Promise.all([
    stat(LOCK).catch(() => undefined),
    readFile(LOCK, "utf8").catch(() => ""),
  ]);
  if (info === undefined) return false;
  if (Date.now() - info.mtimeMs > STALE_LOCK_MS) return true;
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) return Date.now() - info.mtimeMs > 5_000;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return error instanceof Error && "code" in error && error.code === "ESRCH";
  }
}
