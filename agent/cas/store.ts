import { syncDirectory } from "../host/local-fs.js";
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { chmod, mkdir, open, readFile, rename, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import {
  artifactRefSchema,
  casPath,
  HOST_CAS_DIR,
  sha256HexSchema,
  type ArtifactRef,
} from "../../shared/artifacts.js";
import { GroundcrewError, isGroundcrewError } from "../../shared/errors.js";
import type { ReadonlyFs } from "../../shared/host-io.js";
import { localFs } from "../host/local-fs.js";

/*
 * Layout and modes under the root (default /var/lib/groundcrew/cas):
 *   <root>/                 0755
 *   <root>/sha256/          0755, files 0644: verified bundle content, public by nature (never a secret)
 *   <root>/tmp/             0700: unverified bytes, root only
 *   <root>/tmp/<sha>.partial  0600: an artifact being received, kept across kills for resume
 *   <root>/tmp/<sha>.lock     0600: "<pid> <start time>" of its one writer
 *
 * The store does its own file I/O with node:fs, not through the Fs seam:
 * artifacts are gigabytes and must be streamed, which Fs does not offer.
 */
const ROOT_DIR_MODE = 0o755;
const FINAL_DIR_MODE = 0o755;
const FINAL_FILE_MODE = 0o644;
const TMP_DIR_MODE = 0o700;
const PARTIAL_FILE_MODE = 0o600;

export interface WriteOptions {
  /** Called with the size of each chunk once it is written to the partial file. */
  readonly onBytes?: (bytes: number) => void;
}

export interface WriteResult {
  /** Bytes taken from the stream and written (0 when the artifact was already stored). */
  readonly bytesWritten: number;
  /** True when a verified copy was already there: the stream was left unread. */
  readonly alreadyStored: boolean;
}

/**
 * Whether `ref` is stored under `root`: its final file is a regular file
 * with the right size. Final files only come to be by a rename after their
 * sha256 was verified, so presence and size are trusted without rehashing.
 * Takes a ReadonlyFs so a step's read-only check can ask it.
 */
export async function artifactPresent(
  fs: Pick<ReadonlyFs, "stat">,
  ref: Pick<ArtifactRef, "sha256" | "size">,
  root: string = HOST_CAS_DIR,
): Promise<boolean> {
  const stats = await fs.stat(casPath(ref.sha256, root));
  return stats?.isFile === true && stats.size === ref.size;
}

/**
 * A content-addressed store of verified artifacts. Written to survive a kill
 * at any point: bytes land in `tmp/<sha>.partial` (a rerun resumes from its
 * size), and a final file appears only by rename after the whole partial file
 * hashed to the expected sha256 with the expected size. One writer per
 * artifact at a time, across processes (a lock file naming the writer's
 * process; a lock of a process that is gone is taken over).
 */
export class CasStore {
  constructor(readonly root: string = HOST_CAS_DIR) {}

  /** Where a verified artifact lives. */
  finalPath(sha256: string): string {
    return casPath(checkedSha(sha256), this.root);
  }

  partialPath(sha256: string): string {
    return path.join(this.root, "tmp", `${checkedSha(sha256)}.partial`);
  }

  /** See `artifactPresent`. Throws HOST_IO_FAILED when the file cannot be examined. */
  async has(ref: Pick<ArtifactRef, "sha256" | "size">): Promise<boolean> {
    const file = this.finalPath(ref.sha256);
    return localOp("HOST_IO_FAILED", "examine", file, () => artifactPresent(localFs, ref, this.root));
  }

  /** Bytes received so far for an artifact not yet stored (0 when none). */
  async partialSize(sha256: string): Promise<number> {
    const file = this.partialPath(sha256);
    const stats = await localOp("HOST_IO_FAILED", "examine", file, () => localFs.stat(file));
    return stats?.isFile === true ? stats.size : 0;
  }

  /**
   * Writes the artifact's bytes from `offset` on, read from `source` (the
   * rest of the artifact, nothing more), then verifies and publishes it.
   * `offset` must be 0 (start over: the partial file is truncated) or the
   * current partial size (resume). Resolves at once, leaving `source`
   * unread, when the artifact is already stored.
   *
   * Throws GroundcrewError:
   * - CAS_INVALID_REQUEST: a malformed ref, or an offset that is neither 0
   *   nor the partial size (context.partialBytes says where to resume).
   * - CAS_WRITE_FAILED, retryable: `source` failed or ended before the
   *   artifact's size; the bytes received are kept for a resume. Also when
   *   another live process is writing the same artifact.
   * - CAS_WRITE_FAILED, not retryable: the partial or final file could not
   *   be written (ENOSPC, EACCES...), naming the path.
   * - CAS_VERIFY_FAILED: too many bytes, or the complete file's sha256 is
   *   not the expected one; the partial file is deleted.
   */
  async writeFrom(
    ref: ArtifactRef,
    source: AsyncIterable<Uint8Array>,
    offset: number,
    options: WriteOptions = {},
  ): Promise<WriteResult> {
    const artifact = checkedRef(ref, offset);
    if (await this.has(artifact)) return { bytesWritten: 0, alreadyStored: true };
    await this.#ensureLayout();
    const release = await acquireLock(this.#lockPath(artifact.sha256), artifact.path);
    try {
      if (await this.has(artifact)) return { bytesWritten: 0, alreadyStored: true };
      const partialBytes = await this.partialSize(artifact.sha256);
      if (offset !== 0 && offset !== partialBytes) {
        throw new GroundcrewError(
          "CAS_INVALID_REQUEST",
          `cannot resume ${artifact.path} at byte ${offset}: ${partialBytes} bytes were received so far`,
          { context: { path: artifact.path, sha256: artifact.sha256, offset, partialBytes } },
        );
      }
      const bytesWritten = await this.#receive(artifact, source, offset, options);
      await this.#publish(artifact);
      return { bytesWritten, alreadyStored: false };
    } finally {
      await release();
    }
  }

  /**
   * Deletes the artifact's final and partial files (missing ones are fine).
   * Throws CAS_WRITE_FAILED (retryable) while another live process writes it.
   */
  async remove(sha256: string): Promise<void> {
    const final = this.finalPath(sha256);
    const tmp = path.join(this.root, "tmp");
    const locked = (await localOp("HOST_IO_FAILED", "examine", tmp, () => localFs.stat(tmp))) !== undefined;
    const release = locked ? await acquireLock(this.#lockPath(sha256), final) : () => Promise.resolve();
    try {
      for (const file of [final, this.partialPath(sha256)]) {
        await localOp("CAS_WRITE_FAILED", "remove", file, () => rm(file, { force: true }));
      }
      const dir = path.dirname(final);
      await localOp("CAS_WRITE_FAILED", "sync", dir, () =>
        syncDirectory(dir).catch((error: unknown) => {
          if (!(error instanceof Error && "code" in error && error.code === "ENOENT")) throw error;
        }),
      );
    } finally {
      await release();
    }
  }

  #lockPath(sha256: string): string {
    return path.join(this.root, "tmp", `${checkedSha(sha256)}.lock`);
  }

  async #ensureLayout(): Promise<void> {
    const layout: [string, number][] = [
      [this.root, ROOT_DIR_MODE],
      [path.join(this.root, "sha256"), FINAL_DIR_MODE],
      [path.join(this.root, "tmp"), TMP_DIR_MODE],
    ];
    for (const [dir, mode] of layout) {
      await localOp("CAS_WRITE_FAILED", "create", dir, async () => {
        await mkdir(dir, { recursive: true, mode });
        if (dir !== this.root) await chmod(dir, mode);
      });
    }
  }

  /** Truncates the partial file to `offset`, appends `source`, fsyncs. Resolves the bytes written. */
  async #receive(
    ref: ArtifactRef,
    source: AsyncIterable<Uint8Array>,
    offset: number,
    options: WriteOptions,
  ): Promise<number> {
    const file = this.partialPath(ref.sha256);
    const flags = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW;
    const handle = await localOp("CAS_WRITE_FAILED", "open", file, () =>
      open(file, flags, PARTIAL_FILE_MODE),
    );
    const iterator = source[Symbol.asyncIterator]();
    let position = offset;
    let sourceFailure: unknown;
    try {
      await localOp("CAS_WRITE_FAILED", "truncate", file, () => handle.truncate(offset));
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await iterator.next();
        } catch (cause) {
          sourceFailure = cause;
          break;
        }
        if (next.done === true) break;
        const chunk = next.value;
        if (position + chunk.byteLength > ref.size) {
          await iterator.return?.();
          await rm(file, { force: true });
          throw new GroundcrewError(
            "CAS_VERIFY_FAILED",
            `${ref.path} (sha256 ${ref.sha256}) arrived with more than its ${ref.size} bytes; the partial file was deleted`,
            { context: { path: ref.path, sha256: ref.sha256, size: ref.size } },
          );
        }
        await localOp("CAS_WRITE_FAILED", "write", file, () => writeAll(handle, chunk, position)).catch(
          async (error: unknown) => {
            await iterator.return?.();
            throw error;
          },
        );
        position += chunk.byteLength;
        options.onBytes?.(chunk.byteLength);
      }
      await localOp("CAS_WRITE_FAILED", "sync", file, () => handle.sync());
    } finally {
      await handle.close().catch(() => undefined);
    }
    if (sourceFailure !== undefined || position < ref.size) {
      const why =
        sourceFailure === undefined
          ? "the source ended early"
          : `the source failed: ${sourceFailure instanceof Error ? sourceFailure.message : "unknown error"}`;
      throw new GroundcrewError(
        "CAS_WRITE_FAILED",
        `${ref.path} is incomplete (${position} of ${ref.size} bytes): ${why}; the bytes received are kept for a resume`,
        {
          cause: sourceFailure,
          retryable: true,
          context: { path: ref.path, sha256: ref.sha256, partialBytes: position, size: ref.size },
        },
      );
    }
    return position - offset;
  }

  /** Hashes the whole partial file; publishes it by rename when it is the artifact, deletes it otherwise. */
  async #publish(ref: ArtifactRef): Promise<void> {
    const partial = this.partialPath(ref.sha256);
    const final = this.finalPath(ref.sha256);
    const { sha256, size } = await localOp("CAS_WRITE_FAILED", "read", partial, () => hashFile(partial));
    if (sha256 !== ref.sha256 || size !== ref.size) {
      await localOp("CAS_WRITE_FAILED", "remove", partial, () => rm(partial, { force: true }));
      throw new GroundcrewError(
        "CAS_VERIFY_FAILED",
        `${ref.path} arrived corrupted: expected sha256 ${ref.sha256} (${ref.size} bytes), ` +
          `got sha256 ${sha256} (${size} bytes); the partial file was deleted`,
        { context: { path: ref.path, expectedSha256: ref.sha256, actualSha256: sha256 } },
      );
    }
    await localOp("CAS_WRITE_FAILED", "publish", final, async () => {
      await chmod(partial, FINAL_FILE_MODE);
      await rename(partial, final);
      await syncDirectory(path.dirname(final));
    });
  }
}

function checkedSha(sha256: string): string {
  if (!sha256HexSchema.safeParse(sha256).success) {
    throw new GroundcrewError("CAS_INVALID_REQUEST", "a sha256 is 64 lowercase hex digits", {
      context: { sha256: sha256.slice(0, 80) },
    });
  }
  return sha256;
}

function checkedRef(ref: ArtifactRef, offset: number): ArtifactRef {
  const parsed = artifactRefSchema.safeParse(ref);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GroundcrewError(
      "CAS_INVALID_REQUEST",
      `artifact reference is not valid at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "?"}`,
    );
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > parsed.data.size) {
    throw new GroundcrewError(
      "CAS_INVALID_REQUEST",
      `offset ${offset} is outside ${parsed.data.path} (${parsed.data.size} bytes)`,
      { context: { path: parsed.data.path, offset } },
    );
  }
  return parsed.data;
}

async function writeAll(handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < chunk.byteLength;) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, position + done);
    done += bytesWritten;
  }
}

async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  let size = 0;
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark: 1 << 20 })) {
      const bytes = chunk as Buffer;
      hash.update(bytes);
      size += bytes.byteLength;
    }
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest("hex"), size };
}

/** Runs a file operation; a Node error becomes `code` "cannot <what> <path>: <reason>". GroundcrewErrors pass through. */
async function localOp<T>(
  code: "CAS_WRITE_FAILED" | "HOST_IO_FAILED",
  what: string,
  file: string,
  op: () => Promise<T>,
): Promise<T> {
  try {
    return await op();
  } catch (cause) {
    if (isGroundcrewError(cause)) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    const errno =
      cause instanceof Error && "code" in cause && typeof cause.code === "string" ? cause.code : "";
    throw new GroundcrewError(code, `cannot ${what} ${file}: ${reason}`, {
      cause,
      context: { path: file, ...(errno === "" ? {} : { errno }) },
    });
  }
}

/**
 * Takes `<tmp>/<sha>.lock` for this process, or throws CAS_WRITE_FAILED
 * (retryable) naming `label` when a live process holds it. A lock left by a process that
 * is gone (killed) is taken over. A holder is "<pid> <start time>" from
 * /proc/<pid>/stat, so a recycled pid does not pass for the dead writer.
 * Resolves the release function.
 */
async function acquireLock(file: string, label: string): Promise<() => Promise<void>> {
  const self = (await processToken(process.pid)) ?? `${process.pid} -`;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const created = await localOp("CAS_WRITE_FAILED", "lock", file, async () => {
      try {
        const handle = await open(file, "wx", PARTIAL_FILE_MODE);
        try {
          await handle.writeFile(`${self}\n`);
        } finally {
          await handle.close();
        }
        return true;
      } catch (error) {
        if (error instanceof Error && "code" in error && error.code === "EEXIST") return false;
        throw error;
      }
    });
    if (created) return () => rm(file, { force: true });
    const holder = (await readFile(file, "utf8").catch(() => "")).trim();
    const pid = Number(holder.split(" ")[0]);
    if (holder !== "" && Number.isSafeInteger(pid) && (await processToken(pid)) === holder) {
      throw new GroundcrewError(
        "CAS_WRITE_FAILED",
        `${label} is being written by process ${pid}; try again when it is done`,
        { retryable: true, context: { path: label, lock: file, pid } },
      );
    }
    await rm(file, { force: true });
  }
  throw new GroundcrewError("CAS_WRITE_FAILED", `cannot lock ${file}: it keeps changing hands`, {
    retryable: true,
    context: { path: file },
  });
}

/** "<pid> <start time in clock ticks>" of a live process, or undefined when it is gone (or /proc is absent). */
async function processToken(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name: state is field 3, starttime field 22.
    const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    return start === undefined ? undefined : `${pid} ${start}`;
  } catch {
    return undefined;
  }
}
