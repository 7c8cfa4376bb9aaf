import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { artifactRefSchema, casPath, HOST_CAS_DIR, type ArtifactRef } from "../../shared/artifacts.js";
import { artifactSourceSchema } from "../../shared/depot-config.js";
import type { ReadonlyFs } from "../../shared/host-io.js";
import { fetchArtifact, type ClientTls, type FetchResult } from "../cas/fetch.js";
import { artifactPresent, CasStore } from "../cas/store.js";
import { removeEmptyDirectory } from "../ledger/owned-files.js";
import { withDirectory, withFile } from "../ledger/record.js";
import { fileOp } from "../runner/host-calls.js";
import { defineStep, type StepContext } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";

/** An absolute path without `.`/`..` segments or a trailing slash, other than "/". */
const cleanAbsolutePath = z
  .string()
  .regex(/^(\/[^/\0]+)+$/, "an absolute path")
  .refine((text) => path.posix.normalize(text) === text, "a path without . or .. segments");

const paramsSchema = z
  .object({
    artifacts: z.array(artifactRefSchema),
    /** Tried in order for every artifact (depots first, the provisioner last, as the plan decides). */
    sources: z.array(artifactSourceSchema).min(1),
    /** The agent's own TLS files (PEM), readable only by root. */
    tls: z.object({ ca: cleanAbsolutePath, cert: cleanAbsolutePath, key: cleanAbsolutePath }).strict(),
    casDir: cleanAbsolutePath.default(HOST_CAS_DIR),
  })
  .strict();
type FetchParams = z.infer<typeof paramsSchema>;

/** Progress events at most this often (they go through the on-disk outbox). */
const PROGRESS_INTERVAL_MS = 250;
/** Mode a published artifact has (see agent/cas/store.ts). */
const ARTIFACT_MODE = 0o644;

/** The artifacts to hold, one per content address (two bundle paths can share one). */
function distinct(artifacts: readonly ArtifactRef[]): ArtifactRef[] {
  return [...new Map(artifacts.map((ref) => [ref.sha256, ref])).values()];
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function missingArtifacts(fs: Pick<ReadonlyFs, "stat">, params: FetchParams): Promise<ArtifactRef[]> {
  const wanted = distinct(params.artifacts);
  const present = await Promise.all(
    wanted.map((ref) =>
      fileOp("examine", casPath(ref.sha256, params.casDir), () => artifactPresent(fs, ref, params.casDir)),
    ),
  );
  return wanted.filter((_, i) => present[i] !== true);
}

/** The store's directories, and those of their parents that are missing, outermost first. */
async function missingDirectories(fs: Pick<ReadonlyFs, "stat">, root: string): Promise<string[]> {
  const missing: string[] = [];
  for (let at = root; (await fileOp("stat", at, () => fs.stat(at))) === undefined; at = path.dirname(at)) {
    missing.unshift(at);
  }
  for (const dir of [path.join(root, "sha256"), path.join(root, "tmp")]) {
    if ((await fileOp("stat", dir, () => fs.stat(dir))) === undefined) missing.push(dir);
  }
  return missing;
}

async function readTls(params: FetchParams): Promise<ClientTls> {
  const read = (file: string) => fileOp("read", file, () => readFile(file, "utf8"));
  const [ca, cert, key] = await Promise.all([
    read(params.tls.ca),
    read(params.tls.cert),
    read(params.tls.key),
  ]);
  return { ca, cert, key };
}

/** "depot cp1 unreachable (ECONNREFUSED): fetched k3s/k3s from the provisioner". */
function provenance(ref: ArtifactRef, result: FetchResult): string {
  const fetched = `fetched ${ref.path} (${mib(ref.size)}) from ${result.servedBy ?? "?"}`;
  const resumed = result.resumedFrom > 0 ? `, resumed at ${mib(result.resumedFrom)}` : "";
  const before = result.failures.map(
    (failure) => `${failure.source} ${failure.unreachable ? "unreachable" : "failed"} (${failure.code})`,
  );
  return `${before.length === 0 ? "" : `${before.join(", ")}: `}${fetched}${resumed}`;
}

/**
 * The host's artifacts in its content-addressed store
 * (`<casDir>/sha256/<sha256>`), fetched over mutual TLS from the plan's
 * sources in order (depots, then the provisioner), resuming partial
 * transfers. Done when every artifact is stored with its size (a stored file
 * was verified before it was published). Each artifact is in the ledger
 * before its transfer starts; undo removes exactly those (and their
 * partial files), then the store directories it created when empty.
 * Artifacts that were there already (pushed over SSH, another run) are left alone.
 */
export const fetchArtifactsStep = defineStep({
  id: "artifacts.fetch",
  params: paramsSchema,
  title: (params) => {
    const wanted = distinct(params.artifacts);
    const bytes = wanted.reduce((sum, ref) => sum + ref.size, 0);
    return `Fetch ${wanted.length} artifact${wanted.length === 1 ? "" : "s"} (${mib(bytes)})`;
  },

  async check({ fs, params }) {
    const total = distinct(params.artifacts).length;
    const missing = await missingArtifacts(fs, params);
    if (missing.length === 0) return { done: true, reason: `all ${total} artifacts are in ${params.casDir}` };
    const bytes = missing.reduce((sum, ref) => sum + ref.size, 0);
    return {
      done: false,
      reason: `${missing.length} of ${total} artifacts are missing from ${params.casDir} (${mib(bytes)} to fetch)`,
    };
  },

  async apply(ctx) {
    const { fs, ledger, params } = ctx;
    const missing = await missingArtifacts(fs, params);
    if (missing.length === 0) return { changes: [] };
    const tls = await readTls(params);
    const store = new CasStore(params.casDir);
    const directories = await missingDirectories(fs, params.casDir);
    await ledger.update((record) => directories.reduce((next, dir) => withDirectory(next, dir), record));
    const progress = progressReporter(ctx, params, missing);
    const changes: string[] = [];
    for (const ref of missing) {
      const file = casPath(ref.sha256, params.casDir);
      // An owned file whose sha256 is its content address and that replaced nothing. Only this
      // step's undo removes it: undoRecorded rereads owned files as text, fit for small configs only.
      await ledger.update((record) =>
        withFile(record, { path: file, sha256: ref.sha256, mode: ARTIFACT_MODE, previous: null }),
      );
      const result = await fetchArtifact({
        ref,
        store,
        sources: params.sources,
        tls,
        onProgress: ({ bytesDone }) => {
          progress.update(ref, bytesDone);
        },
      });
      progress.finished(ref);
      const line =
        result.servedBy === undefined
          ? `completed ${ref.path} from bytes already received`
          : provenance(ref, result);
      ctx.log(line);
      changes.push(line);
    }
    return { changes };
  },

  async verify({ fs, params }) {
    for (const ref of distinct(params.artifacts)) {
      const file = casPath(ref.sha256, params.casDir);
      if (!(await fileOp("examine", file, () => artifactPresent(fs, ref, params.casDir)))) {
        throw new StepError(
          "STEP_VERIFY_FAILED",
          `${ref.path} is not stored at ${file} with ${ref.size} bytes`,
          {
            context: { path: file },
          },
        );
      }
    }
  },

  async undo({ fs, ledger, params }) {
    const record = await ledger.read();
    if (record === undefined) return { changes: [] };
    const store = new CasStore(params.casDir);
    const changes: string[] = [];
    for (const file of [...record.files].reverse()) {
      if (file.path === casPath(file.sha256, params.casDir)) {
        const present = (await fileOp("stat", file.path, () => fs.stat(file.path))) !== undefined;
        await store.remove(file.sha256);
        if (present) changes.push(`removed ${file.path}`);
      } else {
        changes.push(`left ${file.path}: not an artifact of ${params.casDir}`);
      }
      await ledger.update((r) => ({ ...r, files: r.files.filter((entry) => entry.path !== file.path) }));
    }
    for (const dir of [...record.directories].reverse()) {
      if (await removeEmptyDirectory(fs, dir)) changes.push(`removed directory ${dir}`);
      await ledger.update((r) => ({ ...r, directories: r.directories.filter((entry) => entry !== dir) }));
    }
    return { changes };
  },
});

/**
 * Reports bytes over all of the step's artifacts (those already stored count
 * as done), at most every PROGRESS_INTERVAL_MS, and always once when the
 * last one completes.
 */
function progressReporter(
  ctx: StepContext<FetchParams>,
  params: FetchParams,
  missing: readonly ArtifactRef[],
) {
  const bytesTotal = distinct(params.artifacts).reduce((sum, ref) => sum + ref.size, 0);
  let completed = bytesTotal - missing.reduce((sum, ref) => sum + ref.size, 0);
  let remaining = missing.length;
  let last = 0;
  const emit = (ref: ArtifactRef, bytesDone: number, force: boolean) => {
    if (!force && Date.now() - last < PROGRESS_INTERVAL_MS) return;
    last = Date.now();
    ctx.progress({ message: `fetching ${ref.path}`, bytesDone, bytesTotal });
  };
  return {
    update(ref: ArtifactRef, artifactBytes: number) {
      emit(ref, completed + artifactBytes, false);
    },
    finished(ref: ArtifactRef) {
      completed += ref.size;
      remaining -= 1;
      emit(ref, completed, remaining === 0);
    },
  };
}
