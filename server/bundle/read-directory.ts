import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import type { FoundFile } from "./artifact-check.js";
import { hashFile } from "./hash-stream.js";
import { MANIFEST_FILE, SIGNATURE_FILE, type Manifest } from "./manifest.js";

export interface DirectoryFiles {
  readonly manifestBytes: Buffer;
  readonly signatureBytes?: Buffer;
  /** Every regular file but the manifest and signature, by bundle path. */
  readonly paths: readonly string[];
}

/**
 * Lists a bundle directory. Symbolic links and special files are refused
 * (BUNDLE_UNSAFE_PATH naming them): a link could point outside the bundle.
 */
export async function listDirectoryBundle(dir: string): Promise<DirectoryFiles> {
  const paths: string[] = [];
  await walk(dir, "", paths);
  const manifestBytes = await readFile(path.join(dir, MANIFEST_FILE)).catch((error: unknown) => {
    throw new GroundcrewError("BUNDLE_UNREADABLE", `${dir}: no readable ${MANIFEST_FILE}`, {
      context: { bundle: dir },
      cause: error,
    });
  });
  const signature = paths.includes(SIGNATURE_FILE)
    ? await readFile(path.join(dir, SIGNATURE_FILE))
    : undefined;
  return {
    manifestBytes,
    ...(signature === undefined ? {} : { signatureBytes: signature }),
    paths: paths.filter((item) => item !== MANIFEST_FILE && item !== SIGNATURE_FILE),
  };
}

/** Sizes and sha256 of the manifest's artifacts that exist; unlisted files only by presence. */
export async function hashDirectoryArtifacts(
  dir: string,
  manifest: Manifest,
  paths: readonly string[],
  onBytes: (bytes: number) => void,
): Promise<Map<string, FoundFile>> {
  const present = new Set(paths);
  const found = new Map<string, FoundFile>();
  for (const artifact of manifest.artifacts) {
    if (!present.has(artifact.path)) continue;
    found.set(artifact.path, await hashFile(path.join(dir, artifact.path), onBytes));
  }
  for (const item of paths) {
    if (!found.has(item) && !manifest.artifacts.some((artifact) => artifact.path === item)) {
      found.set(item, { size: 0, sha256: "" });
    }
  }
  return found;
}

async function walk(root: string, relative: string, out: string[]): Promise<void> {
  const here = path.join(root, relative);
  for (const name of (await readdir(here)).sort()) {
    const itemPath = relative === "" ? name : `${relative}/${name}`;
    const info = await lstat(path.join(root, itemPath));
    if (info.isDirectory()) await walk(root, itemPath, out);
    else if (info.isFile()) out.push(itemPath);
    else {
      throw new GroundcrewError(
        "BUNDLE_UNSAFE_PATH",
        `${root}: ${itemPath} is ${info.isSymbolicLink() ? "a symbolic link" : "not a regular file"}; a bundle holds only files and directories`,
        { context: { bundle: root, entry: itemPath } },
      );
    }
  }
}
