import { constants, createReadStream } from "node:fs";
import { copyFile, link, lstat, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import { download, type DownloadOptions } from "./download.js";
import { collectLocal, localSourceKind } from "./local-source.js";
import { loadLock, localSourcePath } from "./lock.js";
import type { Lock, LockArtifact } from "./lock-schema.js";
import {
  jsonPath,
  MANIFEST_FILE,
  MANIFEST_SCHEMA_VERSION,
  manifestSchema,
  renderManifest,
  type Manifest,
} from "./manifest.js";
import {
  bundleFormat,
  checkZstd,
  syncDir,
  syncFile,
  writeTar,
  type BundleFormat,
  type TarEntry,
} from "./pack.js";

/** How an artifact came to be in the download cache. */
export type ArtifactOrigin = "cached" | "downloaded" | "copied";

/** What a build reports as it goes, in order per artifact: started, progressed…, retried…, done. */
export type BuildEvent =
  | { readonly type: "artifact.started"; readonly path: string; readonly source: string }
  | {
      readonly type: "artifact.progressed";
      readonly path: string;
      readonly bytesDone: number;
      readonly bytesTotal: number | undefined;
    }
  | {
      readonly type: "artifact.retried";
      readonly path: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly reason: string;
    }
  | {
      readonly type: "artifact.done";
      readonly path: string;
      readonly origin: ArtifactOrigin;
      readonly size: number;
      readonly sha256: string;
      /** Bytes an interrupted earlier run had fetched and that were kept (0 when none). */
      readonly resumedFrom: number;
    }
  | { readonly type: "warning.raised"; readonly path: string | undefined; readonly message: string }
  | { readonly type: "assembly.started"; readonly out: string; readonly format: BundleFormat }
  | { readonly type: "bundle.written"; readonly out: string; readonly format: BundleFormat };

export interface BuildOptions {
  readonly lockFile: string;
  /** A folder, or a file ending in `.tar` or `.tar.zst`. */
  readonly out: string;
  /** Replace an existing `out` (only once the new bundle is complete). */
  readonly force?: boolean;
  /** Accept downloads the lock marks `unverified` (no sha256), recording the digest they arrive with. */
  readonly allowUnpinned?: boolean;
  /** Artifacts fetched at once (default 4). */
  readonly concurrency?: number;
  readonly onEvent?: (event: BuildEvent) => void;
  /** The download cache (see buildBundle); default `<out>.download`, removed after a successful build. */
  readonly cacheDir?: string;
  readonly signal?: AbortSignal;
  /** Download retry settings (tests shorten the waits). */
  readonly download?: Pick<
    DownloadOptions,
    "retries" | "sleep" | "baseDelayMs" | "maxDelayMs" | "idleTimeoutMs"
  >;
  /** The manifest's `created` time (default now). */
  readonly now?: () => Date;
}

export interface BuildResult {
  readonly out: string;
  readonly format: BundleFormat;
  /** `<out>/manifest.json` for a folder bundle; for a tar bundle the tar itself (its first entry is the manifest). */
  readonly manifestPath: string;
  readonly manifest: Manifest;
  /** How many artifacts the bundle holds. */
  readonly artifacts: number;
  /** The artifacts' total size. */
  readonly bytes: number;
}

/**
 * Builds the bundle a lock describes into `out`.
 *
 * Everything is checked before anything is fetched: the lock, that `out` does
 * not exist (BUNDLE_OUTPUT_EXISTS unless `force`), that no download lacks a
 * sha256 (BUNDLE_LOCK_INVALID unless `allowUnpinned`), that every `file:`
 * source is a file or an OCI layout, and that zstd is installed for a
 * `.tar.zst` (BUNDLE_UNREADABLE).
 *
 * Artifacts are first collected into the download cache `cacheDir`:
 * `sha256/<hex>` for pinned ones (content addressed, so a cache can serve
 * many locks; a cached file is re-hashed before it is used), `unpinned/` and
 * `local/` for the others, which are fetched again on every build. A build
 * that is interrupted leaves `.part` files there, and the next build with the
 * same cache resumes them. The default cache, `<out>.download` beside the
 * output, is removed once the bundle is written; a cache given explicitly is
 * kept. One build at a time per cache.
 *
 * Then the bundle is assembled under `<out>.partial-<random>` and renamed to
 * `out`: `out` appears only when complete and verified, and a failed build
 * leaves no partial output behind. A folder bundle holds each artifact at its
 * path (hard-linked from the default cache, copied from a kept one) and
 * manifest.json; a tar bundle holds manifest.json first, then the artifacts
 * in lock order, with deterministic headers. Throws BUNDLE_DOWNLOAD_FAILED or
 * BUNDLE_ARTIFACT_MISMATCH (naming the artifact) when an artifact cannot be
 * fetched or has the wrong sha256.
 */
export async function buildBundle(options: BuildOptions): Promise<BuildResult> {
  const { lock } = await loadLock(options.lockFile);
  const out = path.resolve(options.out);
  const format = bundleFormat(out);
  const emit = options.onEvent ?? (() => undefined);
  await refuseExisting(out, options.force === true);
  refuseUnpinned(lock, options.allowUnpinned === true);
  for (const artifact of lock.artifacts) {
    const local = localSourcePath(artifact.source);
    if (local !== undefined) await localSourceKind(local, artifact.path);
  }
  if (format === "tar.zst") await checkZstd();
  await mkdir(path.dirname(out), { recursive: true });
  await removeLeftovers(out);
  const cacheDir = path.resolve(options.cacheDir ?? `${out}.download`);
  const collected = await collectAll(lock, { ...options, cacheDir, emit });
  const manifest = bundleManifest(lock, collected, (options.now ?? (() => new Date()))());
  emit({ type: "assembly.started", out, format });
  const partial = `${out}.partial-${randomBytes(6).toString("hex")}`;
  try {
    if (format === "directory") {
      await assembleDir(partial, manifest, collected, options.cacheDir === undefined);
    } else {
      await writeTar(tarEntries(manifest, collected), partial, format === "tar.zst");
    }
    await replaceOutput(partial, out, options.force === true);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  if (options.cacheDir === undefined) await rm(cacheDir, { recursive: true, force: true });
  emit({ type: "bundle.written", out, format });
  return {
    out,
    format,
    manifestPath: format === "directory" ? path.join(out, MANIFEST_FILE) : out,
    manifest,
    artifacts: manifest.artifacts.length,
    bytes: manifest.artifacts.reduce((sum, artifact) => sum + artifact.size, 0),
  };
}

/** An artifact in the download cache. */
interface Collected {
  readonly file: string;
  readonly sha256: string;
  readonly size: number;
}

/** How it got there, and how many bytes of an interrupted run's `.part` were kept. */
interface CollectedNow extends Collected {
  readonly origin: ArtifactOrigin;
  readonly resumedFrom: number;
}

async function refuseExisting(out: string, force: boolean): Promise<void> {
  if (force || !(await exists(out))) return;
  throw new GroundcrewError("BUNDLE_OUTPUT_EXISTS", `${out} exists: pass --force to replace it`, {
    context: { out },
  });
}

function refuseUnpinned(lock: Lock, allowUnpinned: boolean): void {
  const unpinned = lock.artifacts.filter((artifact) => isUnpinnedDownload(artifact));
  if (allowUnpinned || unpinned.length === 0) return;
  const lines = unpinned.map((artifact) => `  ${artifact.path}: unverified: ${artifact.unverified ?? ""}`);
  throw new GroundcrewError(
    "BUNDLE_LOCK_INVALID",
    [
      `${unpinned.length} download(s) in the lock have no sha256:`,
      ...lines,
      "pin them, or pass --allow-unpinned to record the sha256 they arrive with",
    ].join("\n"),
    { context: { unpinned: unpinned.length } },
  );
}

function isUnpinnedDownload(artifact: LockArtifact): boolean {
  return artifact.sha256 === undefined && localSourcePath(artifact.source) === undefined;
}

/** Removes what a killed build of `out` left beside it (`<out>.partial-*`, `<out>.replaced-*`). */
async function removeLeftovers(out: string): Promise<void> {
  const base = path.basename(out);
  const names = await readdir(path.dirname(out));
  for (const name of names) {
    if (name.startsWith(`${base}.partial-`) || name.startsWith(`${base}.replaced-`)) {
      await rm(path.join(path.dirname(out), name), { recursive: true, force: true });
    }
  }
}

interface CollectContext extends BuildOptions {
  readonly cacheDir: string;
  readonly emit: (event: BuildEvent) => void;
}

/**
 * Collects every artifact into the cache, `concurrency` at a time; the same
 * cache file is collected once however many entries name it. The first
 * failure stops the others and is thrown.
 */
async function collectAll(lock: Lock, context: CollectContext): Promise<Collected[]> {
  const stop = new AbortController();
  const signal = context.signal === undefined ? stop.signal : AbortSignal.any([stop.signal, context.signal]);
  const inFlight = new Map<string, Promise<CollectedNow>>();
  const results: Collected[] = [];
  let failure: { error: unknown } | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < lock.artifacts.length) {
      const index = next++;
      const artifact = lock.artifacts[index];
      if (artifact === undefined) break;
      try {
        context.emit({ type: "artifact.started", path: artifact.path, source: artifact.source });
        const key = cacheFile(artifact, context.cacheDir);
        const shared = inFlight.get(key);
        const promise = shared ?? collectOne(artifact, key, { ...context, signal });
        inFlight.set(key, promise);
        const result = await promise;
        results[index] = result;
        context.emit({
          type: "artifact.done",
          path: artifact.path,
          origin: shared === undefined ? result.origin : "cached",
          size: result.size,
          sha256: result.sha256,
          resumedFrom: shared === undefined ? result.resumedFrom : 0,
        });
      } catch (error) {
        failure ??= { error };
        stop.abort();
      }
    }
  };
  const workers = Math.max(1, Math.min(context.concurrency ?? 4, lock.artifacts.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}

/** Where an artifact is kept in the cache (see buildBundle). */
function cacheFile(artifact: LockArtifact, cacheDir: string): string {
  if (artifact.sha256 !== undefined) return path.join(cacheDir, "sha256", artifact.sha256);
  const local = localSourcePath(artifact.source) !== undefined;
  const name = createHash("sha256").update(artifact.source).digest("hex");
  return path.join(cacheDir, local ? "local" : "unpinned", name);
}

async function collectOne(
  artifact: LockArtifact,
  file: string,
  context: CollectContext,
): Promise<CollectedNow> {
  await mkdir(path.dirname(file), { recursive: true });
  const cached = artifact.sha256 === undefined ? undefined : await cachedCopy(file, artifact.sha256);
  if (cached !== undefined) return { ...cached, origin: "cached", resumedFrom: 0 };
  const onProgress = throttled((bytesDone, bytesTotal) => {
    context.emit({ type: "artifact.progressed", path: artifact.path, bytesDone, bytesTotal });
  });
  const local = localSourcePath(artifact.source);
  try {
    if (local !== undefined) {
      const copied = await collectLocal({
        source: local,
        what: artifact.path,
        dest: file,
        expectedSha256: artifact.sha256,
        onProgress,
        signal: context.signal,
      });
      return { file, sha256: copied.sha256, size: copied.size, origin: "copied", resumedFrom: 0 };
    }
    const fetched = await download({
      ...context.download,
      url: artifact.source,
      dest: file,
      expectedSha256: artifact.sha256,
      // A download nothing pins is fetched whole each time: kept bytes could not be checked.
      resume: artifact.sha256 !== undefined,
      onProgress,
      onRetry: (retry) => {
        context.emit({ type: "artifact.retried", path: artifact.path, ...retry });
      },
      signal: context.signal,
    });
    if (artifact.sha256 === undefined) {
      context.emit({
        type: "warning.raised",
        path: artifact.path,
        message:
          `${artifact.path} is not pinned (unverified: ${artifact.unverified ?? "no reason given"}); ` +
          `recorded the sha256 it arrived with: ${fetched.sha256}`,
      });
    }
    return {
      file,
      sha256: fetched.sha256,
      size: fetched.size,
      origin: "downloaded",
      resumedFrom: fetched.resumedFrom,
    };
  } catch (error) {
    throw nameArtifact(artifact, error);
  }
}

/** Prefixes an artifact's path to a GroundcrewError's message so the user knows which one failed. */
function nameArtifact(artifact: LockArtifact, error: unknown): unknown {
  if (!(error instanceof GroundcrewError) || error.message.startsWith(`${artifact.path}:`)) return error;
  return new GroundcrewError(error.code, `${artifact.path}: ${error.message}`, {
    cause: error.cause,
    context: { ...error.context, path: artifact.path },
    retryable: error.retryable,
  });
}

/** The cached file when it is there with `sha256`; a damaged one is removed. */
async function cachedCopy(file: string, sha256: string): Promise<Collected | undefined> {
  const info = await lstat(file).catch(() => undefined);
  if (info?.isFile() !== true) return undefined;
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) {
    if (!(chunk instanceof Buffer)) throw new Error("a file stream yielded a string");
    hash.update(chunk);
  }
  if (hash.digest("hex") === sha256) return { file, sha256, size: info.size };
  await rm(file, { force: true });
  return undefined;
}

/** Progress at most every 100 ms, and always the last byte. */
function throttled(
  report: (bytesDone: number, bytesTotal: number | undefined) => void,
): (bytesDone: number, bytesTotal: number | undefined) => void {
  let last = 0;
  return (bytesDone, bytesTotal) => {
    const now = Date.now();
    if (now - last < 100 && bytesDone !== bytesTotal) return;
    last = now;
    report(bytesDone, bytesTotal);
  };
}

/** The manifest of the bundle; throws BUNDLE_INVALID if it would not pass manifestSchema. */
function bundleManifest(lock: Lock, collected: readonly Collected[], created: Date): Manifest {
  const draft = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name: lock.name,
    created: created.toISOString(),
    arch: lock.arch,
    artifacts: lock.artifacts.map((artifact, index) => {
      const found = collected[index];
      if (found === undefined) throw new Error(`artifact ${artifact.path} was not collected`);
      return {
        path: artifact.path,
        kind: artifact.kind,
        name: artifact.name,
        version: artifact.version,
        arch: artifact.arch,
        size: found.size,
        sha256: found.sha256,
        ...(artifact.component === undefined ? {} : { component: artifact.component }),
        ...(artifact.format === undefined ? {} : { format: artifact.format }),
      };
    }),
  };
  const parsed = manifestSchema.safeParse(draft);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${jsonPath(issue.path)}: ${issue.message}`);
    throw new GroundcrewError(
      "BUNDLE_INVALID",
      `the manifest built from the lock is not valid:\n  ${problems.join("\n  ")}`,
    );
  }
  return parsed.data;
}

/** manifest.json, then each artifact from the cache in manifest order (sizes and sha256s checked as read). */
function tarEntries(manifest: Manifest, collected: readonly Collected[]): TarEntry[] {
  const entries: TarEntry[] = [
    { kind: "bytes", path: MANIFEST_FILE, bytes: Buffer.from(renderManifest(manifest)) },
  ];
  manifest.artifacts.forEach((artifact, index) => {
    const found = collected[index];
    if (found === undefined) throw new Error(`artifact ${artifact.path} was not collected`);
    entries.push({
      kind: "file",
      path: artifact.path,
      file: found.file,
      size: artifact.size,
      sha256: artifact.sha256,
    });
  });
  return entries;
}

/**
 * Fills the new folder `dir` with each artifact at its path and
 * manifest.json, all fsynced. Hard links from the cache when it is about to be
 * removed (`linkFromCache`), copies otherwise (a reflink where the file system
 * can), so a kept cache never shares a file with a bundle.
 */
async function assembleDir(
  dir: string,
  manifest: Manifest,
  collected: readonly Collected[],
  linkFromCache: boolean,
): Promise<void> {
  await mkdir(dir);
  for (const [index, artifact] of manifest.artifacts.entries()) {
    const found = collected[index];
    if (found === undefined) throw new Error(`artifact ${artifact.path} was not collected`);
    const target = path.join(dir, ...artifact.path.split("/"));
    await mkdir(path.dirname(target), { recursive: true });
    const linked =
      linkFromCache &&
      (await link(found.file, target).then(
        () => true,
        () => false,
      ));
    if (!linked) {
      await copyFile(found.file, target, constants.COPYFILE_FICLONE);
      await syncFile(target);
    }
  }
  const manifestFile = path.join(dir, MANIFEST_FILE);
  await writeFile(manifestFile, renderManifest(manifest), { flag: "wx", mode: 0o644 });
  await syncFile(manifestFile);
  for (const folder of new Set(
    manifest.artifacts.map((artifact) => path.dirname(path.join(dir, artifact.path))),
  )) {
    await syncDir(folder);
  }
  await syncDir(dir);
}

/**
 * Renames the finished `partial` to `out`. An existing `out` (allowed only
 * with `force`) is moved aside first and removed after, so `out` is always
 * either the old bundle or the new one, complete.
 */
async function replaceOutput(partial: string, out: string, force: boolean): Promise<void> {
  const existing = await lstat(out).catch(() => undefined);
  if (existing !== undefined && !force) await refuseExisting(out, false);
  if (existing === undefined || (existing.isFile() && (await lstat(partial)).isFile())) {
    await rename(partial, out);
  } else {
    const aside = `${out}.replaced-${randomBytes(6).toString("hex")}`;
    await rename(out, aside);
    await rename(partial, out);
    await rm(aside, { recursive: true, force: true });
  }
  await syncDir(path.dirname(out));
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}
