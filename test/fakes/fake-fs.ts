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

/** The write operations of Fs, as a fault hook names them. */
export type FakeWriteOp = "writeFileAtomic" | "mkdirp" | "remove" | "rename" | "chmod";

export interface FakeFsOptions {
  /**
   * Space per mount point. statfs of a path that exists (in the tree, or as
   * a mount point here) answers for the longest mount point containing it.
   */
  readonly statfs?: Readonly<Record<string, FsSpace>>;
  /**
   * Asked before every write; an Error it returns makes that write reject
   * and change nothing (e.g. `fsError("ENOSPC", path, "write")` for a full disk).
   */
  readonly fault?: (op: FakeWriteOp, path: string) => Error | undefined;
}

/** A fake Fs that can also show what it holds now. */
export interface FakeFs extends Fs {
  /**
   * The tree now, keyed by path in sorted order: every file (text) and link,
   * and every directory with nothing below it. A tree that differs only in
   * which non-empty directories are declared gives the same snapshot.
   */
  snapshot(): Record<string, FakeEntry>;
  /** Permission bits of a path (files default to 0o644, directories to 0o755); undefined when missing. */
  modeOf(path: string): number | undefined;
  /** Every write that succeeded, in order, as "<op> <path>" ("rename <from> <to>"). */
  readonly writes: string[];
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
 *
 * Writes change the tree in memory, atomically (no temp files appear):
 * writeFileAtomic needs an existing parent directory (ENOENT, ENOTDIR) and
 * refuses a directory (EISDIR); byte content is stored decoded as UTF-8.
 * mkdirp declares the missing directories (EEXIST/ENOTDIR over a file).
 * remove deletes a path and everything below it, leaving its parent in place.
 * rename moves a path and everything below it (ENOENT when missing).
 */
export function fakeFs(tree: FakeTree, options: FakeFsOptions = {}): FakeFs {
  const entries = new Map<string, FakeEntry>();
  for (const [path, entry] of Object.entries(tree)) entries.set(normalize(path), entry);
  const modes = new Map<string, number>();
  const writes: string[] = [];
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

  /** Names directly below `dir` (which must be a directory). */
  const readNames = (dir: string): string[] => {
    const prefix = dir === "/" ? "/" : `${dir}/`;
    const names = new Set<string>();
    for (const key of entries.keys()) {
      if (!key.startsWith(prefix) || key === dir) continue;
      const name = key.slice(prefix.length).split("/")[0];
      if (name !== undefined && name !== "") names.add(name);
    }
    return [...names].sort();
  };

  /** `path` and every entry below it. */
  const subtree = (path: string): string[] =>
    [...entries.keys()].filter((key) => key === path || key.startsWith(`${path}/`));

  const requireParentDirectory = (target: string, syscall: string): void => {
    const parent = posix.dirname(target);
    if (isDirectory(parent)) return;
    throw fsError(entries.has(parent) ? "ENOTDIR" : "ENOENT", target, syscall);
  };

  /** Runs one write: the fault hook first, then `change` on the normalized path, then the record. */
  const write = (
    op: FakeWriteOp,
    path: string,
    change: (target: string) => void,
    to?: string,
  ): Promise<void> =>
    settle(() => {
      const target = normalize(path);
      const fault = options.fault?.(op, target);
      if (fault !== undefined) throw fault;
      change(target);
      writes.push(to === undefined ? `${op} ${target}` : `${op} ${target} ${normalize(to)}`);
    });

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
        return readNames(dir);
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
          const mode = 0o100000 | (modes.get(target) ?? 0o644);
          return { isFile: true, isDirectory: false, isSymbolicLink: false, size, mode };
        }
        if (entry?.kind === "symlink") {
          const size = Buffer.byteLength(entry.target, "utf8");
          return { isFile: false, isDirectory: false, isSymbolicLink: true, size, mode: 0o120777 };
        }
        if (isDirectory(target)) {
          const mode = 0o40000 | (modes.get(target) ?? 0o755);
          return { isFile: false, isDirectory: true, isSymbolicLink: false, size: 4096, mode };
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

    writeFileAtomic: (path, content, mode) =>
      write("writeFileAtomic", path, (target) => {
        requireParentDirectory(target, "open");
        if (isDirectory(target)) throw fsError("EISDIR", target, "open");
        entries.set(target, typeof content === "string" ? content : Buffer.from(content).toString("utf8"));
        modes.set(target, mode);
      }),

    mkdirp: (path, mode) =>
      write("mkdirp", path, (target) => {
        const missing: string[] = [];
        for (let dir = target; !isDirectory(dir); dir = posix.dirname(dir)) {
          if (entries.has(dir)) throw fsError(dir === target ? "EEXIST" : "ENOTDIR", target, "mkdir");
          missing.push(dir);
        }
        for (const dir of missing) {
          entries.set(dir, directory());
          modes.set(dir, mode);
        }
      }),

    remove: (path) =>
      write("remove", path, (target) => {
        if (target === "/") throw fsError("EPERM", target, "rm");
        const parent = posix.dirname(target);
        const parentWasDirectory = isDirectory(parent);
        for (const key of subtree(target)) {
          entries.delete(key);
          modes.delete(key);
        }
        // A directory stays when its last entry goes.
        if (parentWasDirectory && !isDirectory(parent)) entries.set(parent, directory());
      }),

    rename: (from, to) =>
      write(
        "rename",
        from,
        (source) => {
          const target = normalize(to);
          if (!entries.has(source) && !isDirectory(source)) throw fsError("ENOENT", source, "rename");
          requireParentDirectory(target, "rename");
          if (target === source) return;
          if (isDirectory(target) && readNames(target).length > 0) {
            throw fsError("ENOTEMPTY", target, "rename");
          }
          const parent = posix.dirname(source);
          // An implied source directory becomes explicit so that it moves too, even when empty.
          if (isDirectory(source)) entries.set(source, directory());
          for (const key of subtree(target)) entries.delete(key);
          for (const key of subtree(source)) {
            const renamed = target + key.slice(source.length);
            const entry = entries.get(key);
            const mode = modes.get(key);
            entries.delete(key);
            modes.delete(key);
            if (entry !== undefined) entries.set(renamed, entry);
            if (mode !== undefined) modes.set(renamed, mode);
          }
          if (!isDirectory(parent)) entries.set(parent, directory());
        },
        to,
      ),

    chmod: (path, mode) =>
      write("chmod", path, (target) => {
        if (!entries.has(target) && !isDirectory(target)) throw fsError("ENOENT", target, "chmod");
        modes.set(target, mode);
      }),

    snapshot() {
      const result: Record<string, FakeEntry> = {};
      for (const key of [...entries.keys()].sort()) {
        const entry = entries.get(key);
        if (entry === undefined) continue;
        if (typeof entry !== "string" && entry.kind === "directory" && readNames(key).length > 0) continue;
        result[key] = entry;
      }
      return result;
    },

    modeOf(path) {
      const target = normalize(path);
      if (!entries.has(target) && !isDirectory(target)) return undefined;
      return modes.get(target) ?? (isDirectory(target) ? 0o755 : 0o644);
    },

    writes,
  };
}

/** Absolute, without "." / ".." segments or a trailing slash ("/" stays "/"). */
function normalize(path: string): string {
  if (!path.startsWith("/")) throw new Error(`fake fs paths are absolute, got ${JSON.stringify(path)}`);
  return posix.resolve(path);
}
