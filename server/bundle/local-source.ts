import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GroundcrewError } from "../../shared/errors.js";
import { syncDir, syncFile, tarStream, type TarEntry } from "./pack.js";

/** What a `file:` source is: a plain file, or an OCI image layout folder packed as a tar. */
export type LocalSourceKind = "file" | "oci-layout";

/**
 * What the local source at `source` (absolute) is. Reads only. Throws
 * BUNDLE_LOCK_INVALID naming `what` (the artifact) when it does not exist, or
 * is neither a regular file nor a folder holding `oci-layout` and `index.json`.
 */
export async function localSourceKind(source: string, what: string): Promise<LocalSourceKind> {
  const info = await stat(source).catch((cause: unknown) => {
    throw invalid(what, source, `cannot be read (${cause instanceof Error ? cause.message : String(cause)})`);
  });
  if (info.isFile()) return "file";
  if (!info.isDirectory()) throw invalid(what, source, "is neither a regular file nor a folder");
  for (const name of ["oci-layout", "index.json"]) {
    const inner = await stat(path.join(source, name)).catch(() => undefined);
    if (inner?.isFile() !== true) {
      throw invalid(
        what,
        source,
        `is a folder without ${name}: a folder source must be an OCI image layout (oci-layout, index.json, blobs/)`,
      );
    }
  }
  return "oci-layout";
}

function invalid(what: string, source: string, why: string): GroundcrewError {
  return new GroundcrewError("BUNDLE_LOCK_INVALID", `${what}: source ${source} ${why}`, {
    context: { path: what, source },
  });
}

export interface CollectLocalOptions {
  /** The source, absolute (a lock's `file:` source as loadLock resolved it). */
  readonly source: string;
  /** The artifact's bundle path, for messages. */
  readonly what: string;
  /** Where the artifact ends up; bytes are written to `dest + ".part"` first. */
  readonly dest: string;
  readonly expectedSha256?: string;
  readonly onProgress?: (bytesDone: number, bytesTotal: number | undefined) => void;
  readonly signal?: AbortSignal;
}

export interface CollectedLocal {
  readonly kind: LocalSourceKind;
  readonly sha256: string;
  readonly size: number;
}

/**
 * Copies a local source to `dest`, hashing as it goes: a regular file as it
 * is, an OCI image layout folder as a deterministic tar of its contents
 * (entries sorted by path, folders before what they hold, mtime 0, uid/gid 0,
 * mode 0644/0755), so that the same layout always gives the same sha256.
 *
 * Promises: `dest` appears (fsynced, renamed from `.part`) only when the
 * bytes have `expectedSha256` (when given). Throws BUNDLE_LOCK_INVALID for a
 * source that is not usable (see localSourceKind), BUNDLE_UNSAFE_PATH for a
 * layout holding a symbolic link or special file, BUNDLE_ARTIFACT_MISMATCH
 * (naming source, expected and actual sha256) when the digest differs.
 */
export async function collectLocal(options: CollectLocalOptions): Promise<CollectedLocal> {
  const kind = await localSourceKind(options.source, options.what);
  const part = `${options.dest}.part`;
  let input: Readable;
  let total: number | undefined;
  if (kind === "file") {
    total = (await stat(options.source)).size;
    input = createReadStream(options.source);
  } else {
    const entries = await layoutEntries(options.source, options.what);
    input = tarStream(entries);
  }
  const hash = createHash("sha256");
  let done = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      done += chunk.byteLength;
      options.onProgress?.(done, total);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(input, counter, createWriteStream(part, { flags: "w", mode: 0o644 }), {
      signal: options.signal,
    });
    const sha256 = hash.digest("hex");
    if (options.expectedSha256 !== undefined && sha256 !== options.expectedSha256) {
      throw new GroundcrewError(
        "BUNDLE_ARTIFACT_MISMATCH",
        `${options.what}: ${options.source}${kind === "oci-layout" ? " (packed as a tar)" : ""} has sha256 ` +
          `${sha256}, the lock expects ${options.expectedSha256}`,
        {
          context: {
            path: options.what,
            source: options.source,
            expected: options.expectedSha256,
            actual: sha256,
          },
        },
      );
    }
    await syncFile(part);
    await rename(part, options.dest);
    await syncDir(path.dirname(options.dest));
    return { kind, sha256, size: done };
  } catch (error) {
    await rm(part, { force: true });
    throw error;
  }
}

/** Every folder and regular file under `root`, sorted by their tar path. */
async function layoutEntries(root: string, what: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const walk = async (relative: string): Promise<void> => {
    const names = await readdir(path.join(root, relative));
    for (const name of names) {
      const inner = relative === "" ? name : `${relative}/${name}`;
      const file = path.join(root, inner);
      const info = await lstat(file);
      if (info.isDirectory()) {
        entries.push({ kind: "directory", path: inner });
        await walk(inner);
      } else if (info.isFile()) {
        entries.push({ kind: "file", path: inner, file, size: info.size });
      } else {
        throw new GroundcrewError(
          "BUNDLE_UNSAFE_PATH",
          `${what}: the OCI layout ${root} holds ${inner}, which is not a regular file or folder`,
          { context: { path: what, source: root, entry: inner } },
        );
      }
    }
  };
  await walk("");
  const key = (entry: TarEntry): string => (entry.kind === "directory" ? `${entry.path}/` : entry.path);
  return entries.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
