import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { PassThrough, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { GroundcrewError } from "../../shared/errors.js";

export type TarCompression = "none" | "gzip" | "zstd";

/** By name: `.tar.zst`/`.tzst` → zstd, `.tar.gz`/`.tgz` → gzip, anything else plain tar. */
export function compressionOf(file: string): TarCompression {
  if (/\.(tar\.zst|tzst)$/.test(file)) return "zstd";
  if (/\.(tar\.gz|tgz)$/.test(file)) return "gzip";
  return "none";
}

/**
 * The tar bytes of a bundle file, decompressed. zstd runs as the `zstd`
 * command (a missing command is BUNDLE_UNREADABLE with the fix). `onRead`
 * sees the count of file bytes read so far (for progress).
 */
export function openTarStream(file: string, onRead?: (bytes: number) => void): Readable {
  const raw = createReadStream(file);
  let read = 0;
  if (onRead !== undefined) {
    raw.on("data", (chunk: string | Buffer) => {
      read += chunk.length;
      onRead(read);
    });
  }
  const compression = compressionOf(file);
  if (compression === "none") return raw;
  if (compression === "gzip") return raw.pipe(createGunzip());
  const out = new PassThrough();
  const zstd = spawn("zstd", ["-d", "-q", "-c"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  zstd.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  zstd.on("error", (error) => {
    out.destroy(
      new GroundcrewError("BUNDLE_UNREADABLE", `${file}: cannot run zstd (install the zstd package)`, {
        context: { bundle: file },
        cause: error,
      }),
    );
  });
  zstd.on("close", (code) => {
    if (code !== 0 && !out.destroyed) {
      out.destroy(
        new GroundcrewError("BUNDLE_UNREADABLE", `${file}: zstd could not decompress it: ${stderr.trim()}`, {
          context: { bundle: file },
        }),
      );
    }
  });
  raw.on("error", (error) => out.destroy(error));
  raw.pipe(zstd.stdin);
  zstd.stdin.on("error", () => undefined);
  zstd.stdout.pipe(out);
  out.on("close", () => {
    if (zstd.exitCode === null) zstd.kill();
    raw.destroy();
  });
  return out;
}
