import { createHash } from "node:crypto";
import type { ReadonlyFs } from "../../shared/host-io.js";

/** sha256 of text (as UTF-8) or bytes, in lowercase hex. */
export function sha256Hex(content: string | Uint8Array): string {
  return createHash("sha256").update(content).digest("hex");
}

/** Whether `path` exists and its content hashes like `content`. */
export async function holdsContent(fs: ReadonlyFs, path: string, content: string): Promise<boolean> {
  const current = await fs.readTextIfExists(path);
  return current !== undefined && sha256Hex(current) === sha256Hex(content);
}
