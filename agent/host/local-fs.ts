import { lstat, readdir, readFile, readlink, statfs } from "node:fs/promises";
import type { Fs, FsSpace, FsStats } from "../../shared/host-io.js";
import { isNotFound } from "../facts/read.js";

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
};
