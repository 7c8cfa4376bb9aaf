import { posix } from "node:path";
import type { Fs, FsSpace, FsStats } from "../../shared/host-io.js";

/** A symbolic link in a fake tree; `target` is stored verbatim (relative targets resolve from the link's directory). */
export interface FakeSymlink {
  readonly kind: "symlink";
  readonly target: string;
}

/** An explicitly present directory (directories are otherwise implied by the paths below them). */
export interface FakeDirectory {
  readonly kind: "directory";
}

/** A file's text, a symbolic link, or an (empty) directory. */
export type FakeEntry = string | FakeSymlink | FakeDirectory;

export type FakeTree = Readonly<Record<string, FakeEntry>>;

export interface FakeFsOptions {
  /**
   * Space per mount point. statfs of a path that exists (in the tree, or as
   * a mount point here) answers for the longest mount point containing it.
   */
  readonly statfs?: Readonly<Record<string, FsSpace>>;
}

export function symlink(target: string): FakeSymlink {
  return { kind: "symlink", target };
}

export function directory(): FakeDirectory {
  return { kind: "directory" };
}

/** A promise of `compute()`'s value, rejected with what it throws (like an async fs call). */
function settle<T>(compute: () => T): Promise<T> {
  return new Promise((resolve) => {
    resolve(compute());
  });
}

/** An Error shaped like Node's file-system errors (`code`, `path`). */
export function fsError(code: string, path: string, syscall: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, path, syscall });
}

const MAX_LINK_HOPS = 40;

/**
 * An in-memory Fs over a plain object of absolute paths. Contract as the
 * real one (shared/host-io.ts): missing paths reject with code ENOENT
 * (readText, readDir, readLink, statfs); readTextIfExists and stat resolve
 * undefined for them. readText follows symbolic links; stat does not. A
 * directory exists when it is declared with directory() or any path lies
 * below it; "/" always exists. statfs rejects with ENOENT for a path that does
 * not exist or that no configured mount point contains.
 */
export function fakeFs(tree: FakeTree, options: FakeFsOptions = {}): Fs {
  const entries = new Map<string, FakeEntry>();
  for (const [path, entry] of Object.entries(tree)) entries.set(normalize(path), entry);
  const mounts = new Map<string, FsSpace>();
  for (const [path, space] of Object.entries(options.statfs ?? {})) mounts.set(normalize(path), space);

  const isDirectory = (path: string): boolean => {
    if (path === "/") return true;
    const entry = entries.get(path);
    if (entry !== undefined) return typeof entry !== "string" && entry.kind === "directory";
    const prefix = `${path}/`;
    for (const key of entries.keys()) if (key.startsWith(prefix)) return true;
    return false;
  };

  /** The file text at `path`, following symbolic links; ENOENT/EISDIR like the kernel. */
  const resolveText = (path: string, hops = 0): string => {
    const entry = entries.get(path);
    if (typeof entry === "string") return entry;
    if (entry?.kind === "symlink") {
      if (hops >= MAX_LINK_HOPS) throw fsError("ELOOP", path, "open");
      return resolveText(normalize(posix.resolve(posix.dirname(path), entry.target)), hops + 1);
    }
    if (isDirectory(path)) throw fsError("EISDIR", path, "read");
    throw fsError("ENOENT", path, "open");
  };

  return {
    readText: (path) => settle(() => resolveText(normalize(path))),

    readTextIfExists: (path) =>
      settle(() => {
        try {
          return resolveText(normalize(path));
        } catch (error) {
          if (error instanceof Error && "code" in error && error.code === "ENOENT") return undefined;
          throw error;
        }
      }),

    readDir: (path) =>
      settle(() => {
        const dir = normalize(path);
        const entry = entries.get(dir);
        if (typeof entry === "string" || entry?.kind === "symlink") throw fsError("ENOTDIR", dir, "scandir");
        if (!isDirectory(dir)) throw fsError("ENOENT", dir, "scandir");
        const prefix = dir === "/" ? "/" : `${dir}/`;
        const names = new Set<string>();
        for (const key of entries.keys()) {
          if (!key.startsWith(prefix) || key === dir) continue;
          const name = key.slice(prefix.length).split("/")[0];
          if (name !== undefined && name !== "") names.add(name);
        }
        return [...names].sort();
      }),

    readLink: (path) =>
      settle(() => {
        const link = normalize(path);
        const entry = entries.get(link);
        if (entry === undefined && !isDirectory(link)) throw fsError("ENOENT", link, "readlink");
        if (typeof entry === "string" || entry?.kind !== "symlink") throw fsError("EINVAL", link, "readlink");
        return entry.target;
      }),

    stat: (path) =>
      settle((): FsStats | undefined => {
        const target = normalize(path);
        const entry = entries.get(target);
        if (typeof entry === "string") {
          const size = Buffer.byteLength(entry, "utf8");
          return { isFile: true, isDirectory: false, isSymbolicLink: false, size, mode: 0o100644 };
        }
        if (entry?.kind === "symlink") {
          const size = Buffer.byteLength(entry.target, "utf8");
          return { isFile: false, isDirectory: false, isSymbolicLink: true, size, mode: 0o120777 };
        }
        if (isDirectory(target)) {
          return { isFile: false, isDirectory: true, isSymbolicLink: false, size: 4096, mode: 0o40755 };
        }
        return undefined;
      }),

    statfs: (path) =>
      settle((): FsSpace => {
        const target = normalize(path);
        const exists = entries.has(target) || isDirectory(target) || mounts.has(target);
        if (!exists) throw fsError("ENOENT", target, "statfs");
        let best: { mount: string; space: FsSpace } | undefined;
        for (const [mount, space] of mounts) {
          const contains = mount === "/" || target === mount || target.startsWith(`${mount}/`);
          if (contains && (best === undefined || mount.length > best.mount.length)) best = { mount, space };
        }
        if (best === undefined) throw fsError("ENOENT", target, "statfs");
        return { ...best.space };
      }),
  };
}

/** Absolute, without "." / ".." segments or a trailing slash ("/" stays "/"). */
function normalize(path: string): string {
  if (!path.startsWith("/")) throw new Error(`fake fs paths are absolute, got ${JSON.stringify(path)}`);
  return posix.resolve(path);
}
