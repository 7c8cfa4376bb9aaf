import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";

/**
 * The provisioner's own content-addressed store of verified artifacts
 * (`<root>/sha256/<hex>`), filled from tar bundles so each artifact can be
 * sent on without reading the tar again. A file appears under its final name
 * only by rename after its sha256 was checked, so presence with the right
 * size means verified.
 */
export class LocalCas {
  constructor(readonly root: string) {}

  pathOf(sha256: string): string {
    return path.join(this.root, "sha256", sha256);
  }

  async has(sha256: string, size: number): Promise<boolean> {
    try {
      const info = await stat(this.pathOf(sha256));
      return info.isFile() && info.size === size;
    } catch {
      return false;
    }
  }

  /** A fresh temporary file name inside the store (same file system as the final names). */
  async tempFile(): Promise<string> {
    await mkdir(path.join(this.root, "tmp"), { recursive: true, mode: 0o700 });
    return path.join(this.root, "tmp", `${randomBytes(8).toString("hex")}.partial`);
  }

  /** Moves a temp file whose content was verified to hash `sha256` into place. */
  async commit(tempFile: string, sha256: string): Promise<string> {
    await mkdir(path.join(this.root, "sha256"), { recursive: true, mode: 0o700 });
    const final = this.pathOf(sha256);
    await rename(tempFile, final);
    return final;
  }

  async discard(tempFile: string): Promise<void> {
    await rm(tempFile, { force: true });
  }
}
