import { GroundcrewError } from "../../shared/errors.js";
import type { Fs } from "../../shared/host-io.js";

/** True for the error a missing path raises (Node's, or a fake's with the same `code`). */
export function isNotFound(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}

/**
 * Reads a file every supported host has (e.g. /proc/meminfo). Any failure,
 * including ENOENT, becomes a GroundcrewError FACTS_UNREADABLE naming the path.
 */
export async function readRequiredText(fs: Fs, path: string): Promise<string> {
  try {
    return await fs.readText(path);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new GroundcrewError("FACTS_UNREADABLE", `cannot read ${path}: ${reason}`, {
      cause,
      context: { path },
    });
  }
}

/** Entry names of a directory, or [] when it does not exist; other failures propagate. */
export async function readDirIfExists(fs: Fs, path: string): Promise<string[]> {
  try {
    return await fs.readDir(path);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** Target of a symbolic link, or undefined when the link does not exist; other failures propagate. */
export async function readLinkIfExists(fs: Fs, path: string): Promise<string | undefined> {
  try {
    return await fs.readLink(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
