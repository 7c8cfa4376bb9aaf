import path from "node:path";
import type { Fs } from "../../shared/host-io.js";
import { fileOp } from "../runner/host-calls.js";
import { sha256Hex } from "./hash.js";
import type { StepLedger } from "./ledger.js";
import { withDirectory, withFile } from "./record.js";

export interface OwnedFileIo {
  readonly fs: Fs;
  readonly ledger: StepLedger;
}

const BACKUP_DIR_MODE = 0o700;

/**
 * Makes `file` hold `content` (idempotency pattern: render, compare hashes,
 * write atomically only when they differ). Resolves true when it wrote,
 * false when the file already held `content`; a matching file the agent did
 * not write stays unrecorded, so undo leaves it alone.
 *
 * Before the first write over a file the agent does not own, its previous
 * version is copied to the step's backup folder; missing parent directories
 * are created with `dirMode`. Every change is in the ledger before it happens.
 * Text files only (content is compared and backed up as UTF-8).
 * Throws StepError HOST_IO_FAILED naming the path.
 */
export async function writeOwnedFile(
  io: OwnedFileIo,
  file: string,
  content: string,
  mode: number,
  dirMode = 0o755,
): Promise<boolean> {
  const { fs, ledger } = io;
  const wanted = sha256Hex(content);
  const current = await fileOp("read", file, () => fs.readTextIfExists(file));
  if (current !== undefined && sha256Hex(current) === wanted) return false;

  const owned = (await ledger.read())?.files.find((entry) => entry.path === file);
  let previous = owned?.previous ?? null;
  if (owned === undefined && current !== undefined) {
    previous = await backUp(io, file, current);
  }
  if (current === undefined) await ensureDirectory(io, path.dirname(file), dirMode);
  await ledger.update((record) => withFile(record, { path: file, sha256: wanted, mode, previous }));
  await fileOp("write", file, () => fs.writeFileAtomic(file, content, mode));
  return true;
}

/** Copies the pre-agent version of `file` into the step's backup folder. */
async function backUp(
  io: OwnedFileIo,
  file: string,
  content: string,
): Promise<{ backup: string; sha256: string; mode: number }> {
  const { fs, ledger } = io;
  const backup = ledger.backupPath(file);
  const stats = await fileOp("stat", file, () => fs.stat(file));
  const mode = (stats?.mode ?? 0o644) & 0o7777;
  await fileOp("write", backup, async () => {
    await fs.mkdirp(path.dirname(backup), BACKUP_DIR_MODE);
    await fs.writeFileAtomic(backup, content, mode);
  });
  return { backup, sha256: sha256Hex(content), mode };
}

/** Creates `dir` and its missing parents, recording each created one (outermost first) before creating it. */
async function ensureDirectory(io: OwnedFileIo, dir: string, mode: number): Promise<void> {
  const { fs, ledger } = io;
  const missing: string[] = [];
  for (let at = dir; (await fileOp("stat", at, () => fs.stat(at))) === undefined; at = path.dirname(at)) {
    missing.unshift(at);
  }
  if (missing.length === 0) return;
  await ledger.update((record) => missing.reduce((next, created) => withDirectory(next, created), record));
  await fileOp("create", dir, () => fs.mkdirp(dir, mode));
}

/** Removes `dir` when it is a directory with nothing in it. Resolves whether it did. */
export async function removeEmptyDirectory(fs: Fs, dir: string): Promise<boolean> {
  const stats = await fileOp("stat", dir, () => fs.stat(dir));
  if (stats?.isDirectory !== true) return false;
  if ((await fileOp("list", dir, () => fs.readDir(dir))).length > 0) return false;
  await fileOp("remove", dir, () => fs.remove(dir));
  return true;
}
