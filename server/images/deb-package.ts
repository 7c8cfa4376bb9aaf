import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";

const MAX_OUTPUT = 1024 * 1024;

/** A .deb read with dpkg-deb. */
export interface DebPackage {
  readonly file: string;
  /** The control fields asked for, in order ("Package", "Architecture"). */
  fields(...names: readonly string[]): Promise<readonly string[]>;
  /** Extracts the package's files (what it would install) under `dir`, which must exist. */
  extract(dir: string): Promise<void>;
}

/**
 * Opens `file` as a .deb, read with dpkg-deb (argv only, never a shell; the
 * path made absolute so it cannot pass for an option). Every failure, here or
 * in a later call, is an IMAGE_SOURCE_INVALID naming the .deb: a missing
 * file, a file dpkg-deb refuses (its own message is kept), or no dpkg-deb.
 */
export async function openDeb(file: string): Promise<DebPackage> {
  const absolute = path.resolve(file);
  const info = await stat(absolute).catch(() => undefined);
  if (info?.isFile() !== true) {
    throw new GroundcrewError(
      "IMAGE_SOURCE_INVALID",
      `${file} cannot be read as a .deb: it does not exist or is not a file`,
      {
        context: { deb: file },
      },
    );
  }
  return {
    file,
    fields: async (...names) => {
      const output = await dpkgDeb(file, ["--field", absolute, ...names]);
      // With one field dpkg-deb prints its bare value; with several, "Name: value" lines.
      if (names.length === 1) return [output.trim()];
      return names.map((name) => fieldValue(output, name));
    },
    extract: async (dir) => {
      await dpkgDeb(file, ["-x", absolute, path.resolve(dir)]);
    },
  };
}

function fieldValue(output: string, name: string): string {
  const prefix = `${name.toLowerCase()}:`;
  const line = output.split("\n").find((candidate) => candidate.toLowerCase().startsWith(prefix));
  return line === undefined ? "" : line.slice(prefix.length).trim();
}

async function dpkgDeb(deb: string, args: readonly string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile("dpkg-deb", args, { maxBuffer: MAX_OUTPUT, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) {
        resolve(stdout);
        return;
      }
      const missing = "code" in error && error.code === "ENOENT";
      const why = missing
        ? "reading it needs dpkg-deb, which is not installed (apt-get install dpkg)"
        : `dpkg-deb refused it: ${stderr.trim() || error.message}`;
      reject(
        new GroundcrewError("IMAGE_SOURCE_INVALID", `${deb} is not a readable .deb: ${why}`, {
          cause: error,
          context: { deb },
        }),
      );
    });
  });
}
