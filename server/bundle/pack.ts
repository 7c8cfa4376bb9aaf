import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { open, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Header, Pax } from "tar";
import { GroundcrewError } from "../../shared/errors.js";
import { MANIFEST_FILE, parseManifest, SIGNATURE_FILE } from "./manifest.js";
import { unsafePathReason } from "./safe-path.js";

/**
 * One entry of a deterministic tar: a folder, bytes held in memory, or a file
 * on disk streamed in (checked against `size`, and `sha256` when given).
 */
export type TarEntry =
  | { readonly kind: "directory"; readonly path: string }
  | { readonly kind: "bytes"; readonly path: string; readonly bytes: Uint8Array }
  | {
      readonly kind: "file";
      readonly path: string;
      readonly file: string;
      readonly size: number;
      readonly sha256?: string;
    };

const BLOCK = 512;
const EPOCH = new Date(0);

/**
 * The bytes of a tar holding `entries` in the order given. Every header is
 * the same whatever machine, user or clock wrote it: mtime 0, uid/gid 0, no
 * user or group names, mode 0644 for files and 0755 for folders; a path too
 * long for ustar gets a PAX header holding only the path (and the size of
 * files over 8 GiB). Fails (the stream errors) with BUNDLE_UNSAFE_PATH for a
 * path that is not a plain relative one, and BUNDLE_ARTIFACT_MISMATCH when a
 * file's size or sha256 is not the one given (the file changed meanwhile).
 */
export function tarStream(entries: Iterable<TarEntry>): Readable {
  return Readable.from(tarBlocks(entries), { objectMode: false });
}

async function* tarBlocks(entries: Iterable<TarEntry>): AsyncGenerator<Uint8Array> {
  for (const entry of entries) {
    const reason = unsafePathReason(entry.path);
    if (reason !== undefined) {
      throw new GroundcrewError(
        "BUNDLE_UNSAFE_PATH",
        `cannot pack ${JSON.stringify(entry.path)}: ${reason}`,
        {
          context: { path: entry.path },
        },
      );
    }
    if (entry.kind === "directory") {
      yield* headerBlocks(`${entry.path}/`, "Directory", 0);
    } else if (entry.kind === "bytes") {
      yield* headerBlocks(entry.path, "File", entry.bytes.byteLength);
      yield entry.bytes;
      yield padding(entry.bytes.byteLength);
    } else {
      yield* headerBlocks(entry.path, "File", entry.size);
      yield* fileBlocks(entry);
      yield padding(entry.size);
    }
  }
  yield Buffer.alloc(2 * BLOCK); // end of archive
}

function headerBlocks(entryPath: string, type: "File" | "Directory", size: number): Uint8Array[] {
  const header = new Header({
    path: entryPath,
    mode: type === "Directory" ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size,
    mtime: EPOCH,
    type,
    uname: "",
    gname: "",
  });
  const needPax = header.encode();
  const block = header.block;
  if (block === undefined) throw new Error(`tar header for ${entryPath} was not encoded`);
  if (!needPax) return [block];
  return [new Pax({ path: entryPath, size: type === "File" ? size : undefined }).encode(), block];
}

function padding(size: number): Uint8Array {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

async function* fileBlocks(entry: Extract<TarEntry, { kind: "file" }>): AsyncGenerator<Uint8Array> {
  const hash = createHash("sha256");
  let size = 0;
  // `end` keeps a file that grew from spilling into the next header.
  for await (const chunk of createReadStream(entry.file, { end: Math.max(entry.size - 1, 0), start: 0 })) {
    if (!(chunk instanceof Buffer)) throw new Error("a file stream yielded a string");
    const part = entry.size === 0 ? chunk.subarray(0, 0) : chunk;
    size += part.byteLength;
    hash.update(part);
    yield part;
  }
  const sha256 = hash.digest("hex");
  if (size !== entry.size || (entry.sha256 !== undefined && sha256 !== entry.sha256)) {
    throw new GroundcrewError(
      "BUNDLE_ARTIFACT_MISMATCH",
      `${entry.path} changed while it was packed (${entry.file}): expected ${entry.size} bytes` +
        `${entry.sha256 === undefined ? "" : ` with sha256 ${entry.sha256}`}, read ${size}` +
        (size === entry.size ? ` with sha256 ${sha256}` : ""),
      { context: { path: entry.path, file: entry.file } },
    );
  }
}

/** How a bundle file is written, from its name: `.tar.zst`, `.tar`, or anything else (a folder). */
export type BundleFormat = "tar.zst" | "tar" | "directory";

export function bundleFormat(out: string): BundleFormat {
  if (out.endsWith(".tar.zst")) return "tar.zst";
  if (out.endsWith(".tar")) return "tar";
  return "directory";
}

/**
 * Writes `entries` as a tar (or, for a `.tar.zst` name, a tar piped through
 * `zstd -q -T0 -c`) to `outFile` atomically: into `outFile.partial-<random>`
 * beside it, fsynced, then renamed over `outFile` (replacing a file that is
 * there). On any failure the partial file is removed and nothing appears
 * under `outFile`. Throws BUNDLE_UNREADABLE when zstd is needed and missing.
 */
export async function writeTarFile(entries: Iterable<TarEntry>, outFile: string): Promise<void> {
  const partial = `${outFile}.partial-${randomBytes(6).toString("hex")}`;
  await writeTar(entries, partial, bundleFormat(outFile) === "tar.zst");
  try {
    await rename(partial, outFile);
    await syncDir(path.dirname(outFile));
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Writes `entries` as a tar, zstd-compressed when `compress`, to the new
 * file `file` (which must not exist) and fsyncs it. Removes the file when
 * anything fails.
 */
export async function writeTar(entries: Iterable<TarEntry>, file: string, compress: boolean): Promise<void> {
  if (compress) await checkZstd();
  try {
    const output = createWriteStream(file, { flags: "wx", mode: 0o644 });
    if (compress) await pipeThroughZstd(tarStream(entries), output);
    else await pipeline(tarStream(entries), output);
    await syncFile(file);
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
}

/**
 * Packs the bundle folder `dir` into `outFile` (`.tar` or `.tar.zst`),
 * deterministically and atomically (see writeTarFile): manifest.json first,
 * manifest.sig next when the folder has one, then each artifact in manifest
 * order, its size and sha256 checked while it is read. Files the manifest
 * does not list are not packed. Throws BUNDLE_INVALID for a bad manifest,
 * BUNDLE_ARTIFACT_MISSING for a listed artifact that is not a file,
 * BUNDLE_ARTIFACT_MISMATCH for one whose size or sha256 differs.
 */
export async function packBundleDir(dir: string, outFile: string): Promise<void> {
  const manifestBytes = await readFile(path.join(dir, MANIFEST_FILE)).catch((cause: unknown) => {
    throw new GroundcrewError("BUNDLE_UNREADABLE", `${dir} has no readable ${MANIFEST_FILE}`, {
      cause,
      context: { bundle: dir },
    });
  });
  const { manifest } = parseManifest(manifestBytes, dir);
  const signature = await readFile(path.join(dir, SIGNATURE_FILE)).catch((error: unknown) => {
    if (error instanceof Error && "code" in error && error.code === "ENOENT") return undefined;
    throw error;
  });
  const entries: TarEntry[] = [{ kind: "bytes", path: MANIFEST_FILE, bytes: manifestBytes }];
  if (signature !== undefined) entries.push({ kind: "bytes", path: SIGNATURE_FILE, bytes: signature });
  for (const artifact of manifest.artifacts) {
    const file = path.join(dir, ...artifact.path.split("/"));
    const info = await stat(file).catch(() => undefined);
    if (info?.isFile() !== true) {
      throw new GroundcrewError("BUNDLE_ARTIFACT_MISSING", `${dir}: ${artifact.path} is not a file`, {
        context: { bundle: dir, path: artifact.path },
      });
    }
    entries.push({ kind: "file", path: artifact.path, file, size: artifact.size, sha256: artifact.sha256 });
  }
  await writeTarFile(entries, outFile);
}

/** Resolves when `zstd` can be run; throws BUNDLE_UNREADABLE saying to install it otherwise. */
export async function checkZstd(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn("zstd", ["--version"], { stdio: "ignore" });
    child.on("error", (cause) => {
      reject(zstdMissing(cause));
    });
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(zstdMissing(new Error(`zstd --version exited with ${code ?? "a signal"}`)));
    });
  });
}

function zstdMissing(cause: unknown): GroundcrewError {
  return new GroundcrewError(
    "BUNDLE_UNREADABLE",
    "writing a .tar.zst bundle needs the zstd command: install zstd (apt-get install zstd), " +
      "or write a .tar bundle",
    { cause },
  );
}

/** tar → zstd's stdin; zstd's stdout → `output`. Rejects when either side fails. */
async function pipeThroughZstd(tar: Readable, output: Writable): Promise<void> {
  const child = spawn("zstd", ["-q", "-T0", "-c"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (text: string) => {
    stderr = (stderr + text).slice(-2000);
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", (cause) => {
      reject(zstdMissing(cause));
    });
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else
        reject(new GroundcrewError("BUNDLE_UNREADABLE", `zstd failed (${code ?? signal}): ${stderr.trim()}`));
    });
  });
  const results = await Promise.allSettled([
    pipeline(tar, child.stdin),
    pipeline(child.stdout, output),
    exited,
  ]);
  const [tarSide, outputSide] = results;
  const failed = results.find((result) => result.status === "rejected");
  if (failed === undefined) return;
  child.kill("SIGKILL");
  // Our own refusal (a changed file, an unsafe path), then the output's error (a full disk), say
  // more than the broken pipe they cause on the other side.
  if (tarSide.status === "rejected" && tarSide.reason instanceof GroundcrewError) throw tarSide.reason;
  if (outputSide.status === "rejected") throw outputSide.reason;
  throw failed.reason;
}

/** Flushes a file's data to disk. */
export async function syncFile(file: string): Promise<void> {
  const handle = await open(file, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a folder's entries (a rename into it) to disk; best effort where folders cannot be opened. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => undefined);
  if (handle === undefined) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}
