import { createReadStream } from "node:fs";
import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec } from "../../shared/host-io.js";
import type { BundleArtifact } from "../bundle/verified-bundle.js";

const statusSchema = z.object({ present: z.boolean(), partialBytes: z.number().int().min(0) }).strict();

export interface UploadProgress {
  /** Bytes of all artifacts now on the host (present before, resumed or sent), of the total. */
  (bytesDone: number, bytesTotal: number): void;
}

export interface UploadResult {
  /** Artifact bytes written to the connection (0 when the host had everything). */
  readonly bytesSent: number;
  readonly sent: number;
  readonly alreadyThere: number;
}

/**
 * Puts each artifact into the host's content-addressed store through the
 * agent (`cas status` / `cas receive` as root, bytes on standard input).
 * An artifact already stored is not sent; one partly stored (an earlier
 * upload was cut) is resumed from the bytes already there. The agent
 * verifies size and sha256 before the artifact appears under its name.
 * Throws CAS_WRITE_FAILED naming the host and artifact.
 */
export async function uploadArtifacts(
  root: Exec,
  host: string,
  agentPath: string,
  artifacts: readonly BundleArtifact[],
  onProgress?: UploadProgress,
): Promise<UploadResult> {
  const total = artifacts.reduce((sum, artifact) => sum + artifact.entry.size, 0);
  let done = 0;
  let bytesSent = 0;
  let sent = 0;
  for (const artifact of artifacts) {
    const { entry, file } = artifact;
    if (file === undefined) throw new Error(`no local copy of ${entry.path}`);
    const status = await casStatus(root, host, agentPath, entry.sha256);
    if (status.present) {
      done += entry.size;
      onProgress?.(done, total);
      continue;
    }
    const offset = status.partialBytes <= entry.size ? status.partialBytes : 0;
    const base = done + offset;
    const stream = createReadStream(file, { start: offset });
    let streamed = 0;
    const counted = async function* (): AsyncGenerator<Uint8Array> {
      for await (const chunk of stream) {
        const bytes = chunk as Buffer;
        streamed += bytes.length;
        onProgress?.(base + streamed, total);
        yield bytes;
      }
    };
    const result = await root.run(
      [
        agentPath,
        "cas",
        "receive",
        "--sha256",
        entry.sha256,
        "--size",
        String(entry.size),
        "--path",
        entry.path,
        "--kind",
        entry.kind,
        "--offset",
        String(offset),
      ],
      { inputStream: counted() },
    );
    stream.destroy();
    if (result.code !== 0) {
      throw new GroundcrewError(
        "CAS_WRITE_FAILED",
        `${host}: storing ${entry.path} failed: ${result.stderr.trim() || `exit ${result.code}`}`,
        { context: { host, artifact: entry.path }, retryable: true },
      );
    }
    bytesSent += streamed;
    sent += 1;
    done += entry.size;
    onProgress?.(done, total);
  }
  return { bytesSent, sent, alreadyThere: artifacts.length - sent };
}

async function casStatus(
  root: Exec,
  host: string,
  agentPath: string,
  sha256: string,
): Promise<z.infer<typeof statusSchema>> {
  const result = await root.run([agentPath, "cas", "status", "--sha256", sha256]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    parsed = undefined;
  }
  const status = statusSchema.safeParse(parsed);
  if (result.code !== 0 || !status.success) {
    throw new GroundcrewError(
      "CAS_WRITE_FAILED",
      `${host}: cannot read the artifact store: ${result.stderr.trim() || result.stdout.trim() || `exit ${result.code}`}`,
      { context: { host } },
    );
  }
  return status.data;
}
