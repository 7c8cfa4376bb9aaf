import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec } from "../../shared/host-io.js";
import { terminalSafe } from "../../shared/terminal-safe.js";
import { archiveError } from "./tar-index.js";

/*
 * Image archives are gigabytes: this module and the reader do their own
 * file I/O with node:fs (streams and positioned reads), which the Fs seam
 * does not offer. Programs (zstd) still run through the Exec seam.
 */

export interface TarOptions {
  /** Scratch directory for a decompressed copy: on disk, with room for the uncompressed archive. */
  readonly tmpDir: string;
  /** Runs the host's `zstd` for .tar.zst archives; without it those are refused. */
  readonly exec?: Exec;
}

/** An uncompressed tar to index, and how to remove the scratch copy (a no-op for a plain tar). */
export interface PlainTar {
  readonly tarPath: string;
  cleanup(): Promise<void>;
}

const ZSTD_TIMEOUT_MS = 60 * 60 * 1000;

type Compression = "none" | "gzip" | "zstd" | "xz" | "bzip2";

/** Decided by magic bytes, not by name: bundle stores name files by their sha256. */
async function compressionOf(file: string): Promise<Compression> {
  const handle = await open(file, "r");
  try {
    const head = Buffer.alloc(6);
    const { bytesRead } = await handle.read(head, 0, 6, 0);
    const magic = head.subarray(0, bytesRead);
    if (magic[0] === 0x1f && magic[1] === 0x8b) return "gzip";
    if (magic.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return "zstd";
    if (magic.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
    if (magic.subarray(0, 3).toString("latin1") === "BZh") return "bzip2";
    return "none";
  } finally {
    await handle.close();
  }
}

function ioError(file: string, action: string, cause: unknown): GroundcrewError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? "ERROR";
  return new GroundcrewError("HOST_IO_FAILED", `${action} ${file} failed (${code})`, {
    cause,
    context: { path: file, errno: code },
  });
}

/**
 * Returns an uncompressed tar for `file`: the file itself, or a copy
 * decompressed into a fresh 0700 directory under `options.tmpDir` (gzip by
 * zlib, zstd by `zstd -d` through `options.exec`) that `cleanup` removes.
 * Throws IMAGE_ARCHIVE_INVALID for a damaged stream or an unsupported
 * compression, HOST_IO_FAILED when the scratch copy cannot be written.
 */
export async function plainTarOf(file: string, options: TarOptions): Promise<PlainTar> {
  const compression = await compressionOf(file).catch((error: unknown) => {
    throw ioError(file, "reading", error);
  });
  if (compression === "none") return { tarPath: file, cleanup: () => Promise.resolve() };
  if (compression === "xz" || compression === "bzip2") {
    throw archiveError(file, `is ${compression}-compressed; only .tar, .tar.gz and .tar.zst are supported`);
  }
  if (compression === "zstd" && options.exec === undefined) {
    throw archiveError(file, "is zstd-compressed and no Exec was given to run `zstd -d`");
  }
  const dir = await mkdtemp(path.join(options.tmpDir, "groundcrew-image-")).catch((error: unknown) => {
    throw ioError(options.tmpDir, "creating a scratch directory in", error);
  });
  const tarPath = path.join(dir, "archive.tar");
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    if (compression === "gzip") await gunzip(file, tarPath);
    else if (options.exec !== undefined) await unzstd(options.exec, file, tarPath);
    return { tarPath, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function gunzip(file: string, tarPath: string): Promise<void> {
  try {
    await pipeline(createReadStream(file), createGunzip(), createWriteStream(tarPath, { mode: 0o600 }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
    if (code.startsWith("Z_")) throw archiveError(file, `is not a valid gzip stream (${code})`);
    throw ioError(tarPath, "decompressing the archive to", error);
  }
}

async function unzstd(exec: Exec, file: string, tarPath: string): Promise<void> {
  const result = await exec
    .run(["zstd", "-d", "-q", "-f", "-o", tarPath, "--", file], { timeoutMs: ZSTD_TIMEOUT_MS })
    .catch((error: unknown) => {
      throw new GroundcrewError("HOST_COMMAND_FAILED", `zstd could not be started to decompress ${file}`, {
        cause: error,
      });
    });
  if (result.code === 0) return;
  if (result.code === 127) {
    throw new GroundcrewError(
      "HOST_COMMAND_FAILED",
      `zstd is not installed; it is needed to decompress ${file}`,
    );
  }
  const stderr = terminalSafe(result.stderr.trim().slice(0, 300));
  throw archiveError(file, `could not be decompressed by zstd (exit ${result.code}): ${stderr}`);
}
