import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, statfs } from "node:fs/promises";
import path from "node:path";
import type { Fs, FsSpace, FsStats } from "../../shared/host-io.js";
import { isNotFound } from "../facts/read.js";

/** fsync a directory so that a rename or unlink inside it is durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Temp file beside `target` (same directory, so rename is atomic), fsync,
 * chmod (open's mode is masked by the umask), rename, fsync the directory.
 * On failure the temp file is removed and the target is untouched.
 */
async function writeFileAtomic(target: string, content: string | Uint8Array, mode: number): Promise<void> {
  const dir = path.dirname(target);
  const temp = path.join(
    dir,
    `.${path.basename(target)}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`,
  );
  const handle = await open(temp, "wx", mode);
  try {
    try {
      await handle.writeFile(content);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/**
 * Fs for the machine this process runs on (contract in shared/host-io.ts).
 * Text is read as UTF-8; readDir sorts names by UTF-16 code unit; stat uses
 * lstat and resolves undefined only on ENOENT; statfs reports bytes
 * (blocks × bsize total, bavail × bsize available to unprivileged users).
 */
export const localFs: Fs = {
  readText: (path) => readFile(path, "utf8"),
  async readTextIfExists(path) {
    try {
      return await readFile(path, "utf8");
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  },
  readDir: async (path) => (await readdir(path)).sort(),
  readLink: (path) => readlink(path),
  async stat(path): Promise<FsStats | undefined> {
    try {
      const stats = await lstat(path);
      return {
        isFile: stats.isFile(),
        isDirectory: stats.isDirectory(),
        isSymbolicLink: stats.isSymbolicLink(),
        size: stats.size,
        mode: stats.mode,
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  },
  async statfs(path): Promise<FsSpace> {
    const space = await statfs(path);
    return { totalBytes: space.blocks * space.bsize, availableBytes: space.bavail * space.bsize };
  },
  writeFileAtomic,
  async mkdirp(dir, mode) {
    await mkdir(dir, { recursive: true, mode });
  },
  remove: (target) => rm(target, { recursive: true, force: true }),
  async rename(from, to) {
    await rename(from, to);
    await syncDirectory(path.dirname(to));
    if (path.dirname(from) !== path.dirname(to)) await syncDirectory(path.dirname(from));
  },
  chmod: (target, mode) => chmod(target, mode),
};
