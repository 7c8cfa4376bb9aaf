import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";

/**
 * The PKI directory: 0700, and every file in it 0600 (it holds private
 * keys). Writes are atomic (temporary file, fsync, rename): a crash leaves
 * the old file or the new one, never half of one.
 */
export class PkiFiles {
  private constructor(readonly dir: string) {}

  /** Creates `dir` 0700 (tightening it if it exists) and tightens the files already there to 0600. */
  static async open(dir: string, names: readonly string[]): Promise<PkiFiles> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const files = new PkiFiles(dir);
    for (const name of names) {
      await chmod(files.path(name), 0o600).catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });
    }
    return files;
  }

  path(name: string): string {
    return path.join(this.dir, name);
  }

  /** The file's text, or undefined when it does not exist. Throws PKI_STATE_INVALID when it cannot be read. */
  async read(name: string): Promise<string | undefined> {
    try {
      return await readFile(this.path(name), "utf8");
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw new GroundcrewError("PKI_STATE_INVALID", `cannot read ${this.path(name)}`, {
        cause: error,
        context: { path: this.path(name) },
      });
    }
  }

  /** Replaces the file atomically with `text`, mode 0600. */
  async write(name: string, text: string): Promise<void> {
    const target = this.path(name);
    const temporary = `${target}.${randomBytes(6).toString("hex")}.tmp`;
    const handle = await open(temporary, "wx", 0o600);
    try {
      await handle.writeFile(text, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}
