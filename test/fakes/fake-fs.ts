import path from "node:path";
import type { Fs, FsSpace, FsStats } from "../../shared/host-io.js";

/** A symbolic link in a fake tree; its target is returned verbatim by readLink. */
export interface FakeSymlink {
  readonly symlink: string;
}

export function symlink(target: string): FakeSymlink {
  return { symlink: target };
}

export type FakeTree = Readonly<Record<string, string | FakeSymlink>>;

function missing(what: string, file: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${what} '${file}'`), { code: "ENOENT" });
}

/**
 * An in-memory Fs from absolute paths to file contents or symlinks.
 * Directories are implied by the paths under them. `space` maps mount points
 * to statfs answers; statfs of a path uses its longest mount-point prefix.
 */
export function fakeFs(tree: FakeTree, space: Readonly<Record<string, FsSpace>> = {}): Fs {
  const entries = new Map(Object.entries(tree));
  const directories = new Set<string>();
  for (const file of entries.keys()) {
    for (let dir = path.posix.dirname(file); ; dir = path.posix.dirname(dir)) {
      directories.add(dir);
      if (dir === "/") break;
    }
  }
  const fileAt = (file: string): string | undefined => {
    const entry = entries.get(file);
    return typeof entry === "string" ? entry : undefined;
  };
  return {
    readText: (file) => {
      const content = fileAt(file);
      return content === undefined ? Promise.reject(missing("open", file)) : Promise.resolve(content);
    },
    readTextIfExists: (file) => Promise.resolve(fileAt(file)),
    readDir: (dir) => {
      if (!directories.has(dir)) return Promise.reject(missing("scandir", dir));
      const prefix = dir === "/" ? "/" : `${dir}/`;
      const names = new Set<string>();
      for (const file of [...entries.keys(), ...directories]) {
        if (file.startsWith(prefix) && file !== dir) names.add(file.slice(prefix.length).split("/")[0] ?? "");
      }
      return Promise.resolve([...names].filter((name) => name !== "").sort());
    },
    readLink: (file) => {
      const entry = entries.get(file);
      return typeof entry === "object"
        ? Promise.resolve(entry.symlink)
        : Promise.reject(missing("readlink", file));
    },
    stat: (file): Promise<FsStats | undefined> => {
      const entry = entries.get(file);
      if (entry === undefined && !directories.has(file)) return Promise.resolve(undefined);
      return Promise.resolve({
        isFile: typeof entry === "string",
        isDirectory: entry === undefined,
        isSymbolicLink: typeof entry === "object",
        size: typeof entry === "string" ? Buffer.byteLength(entry) : 0,
        mode: entry === undefined ? 0o40755 : 0o100644,
      });
    },
    statfs: (file) => {
      const mount = Object.keys(space)
        .filter((point) => file === point || file.startsWith(point === "/" ? "/" : `${point}/`))
        .sort((a, b) => b.length - a.length)[0];
      const answer = mount === undefined ? undefined : space[mount];
      if (answer === undefined || (!entries.has(file) && !directories.has(file))) {
        return Promise.reject(missing("statfs", file));
      }
      return Promise.resolve(answer);
    },
  };
}
