import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Writes `content` to `file` atomically (a temporary file in the same
 * directory, then rename) with exactly `mode`, creating parent directories.
 */
export async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.tmp-${randomBytes(4).toString("hex")}`;
  await writeFile(temporary, content, { mode });
  await chmod(temporary, mode);
  await rename(temporary, file);
}

/** A file's text, or undefined when it does not exist. Other errors are thrown. */
export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Makes `link` a symbolic link to `target` (relative), replacing what was there. */
export async function replaceWithSymlink(link: string, target: string): Promise<void> {
  await rm(link, { force: true });
  await symlink(target, link);
}

export function isNotFound(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}
