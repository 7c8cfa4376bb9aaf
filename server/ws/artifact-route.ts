import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";

export const ARTIFACT_ROUTE = /^\/cas\/sha256\/([0-9a-f]{64})$/;

/** The local file of an artifact `host` may fetch (it is in that host's plan), or undefined. */
export type ArtifactLookup = (host: string, sha256: string) => { file: string; size: number } | undefined;

/**
 * Serves GET/HEAD /cas/sha256/<hex> to an authenticated host: only artifacts
 * its plan names (404 otherwise), with a single `Range: bytes=N-` or
 * `bytes=N-M` honoured (206; 416 when outside the file). `onBytes` counts
 * the body bytes sent: the provisioner's uplink spent on direct delivery.
 */
export async function serveArtifact(
  request: IncomingMessage,
  response: ServerResponse,
  host: string,
  lookup: ArtifactLookup,
  onBytes: (bytes: number) => void,
): Promise<void> {
  const sha256 = ARTIFACT_ROUTE.exec(
    new URL(request.url ?? "/", "https://provisioner.invalid").pathname,
  )?.[1];
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { Allow: "GET, HEAD" }).end();
    return;
  }
  const artifact = sha256 === undefined ? undefined : lookup(host, sha256);
  if (artifact === undefined) {
    response.writeHead(404).end();
    return;
  }
  const range = parseRange(request.headers.range, artifact.size);
  if (range === "unsatisfiable") {
    response.writeHead(416, { "Content-Range": `bytes */${artifact.size}` }).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: artifact.size - 1 };
  const length = Math.max(0, end - start + 1);
  response.writeHead(range === undefined ? 200 : 206, {
    "Content-Type": "application/octet-stream",
    "Content-Length": String(length),
    "Accept-Ranges": "bytes",
    ...(range === undefined ? {} : { "Content-Range": `bytes ${start}-${end}/${artifact.size}` }),
  });
  if (request.method === "HEAD" || length === 0) {
    response.end();
    return;
  }
  const body = createReadStream(artifact.file, { start, end });
  body.on("data", (chunk: string | Buffer) => {
    onBytes(chunk.length);
  });
  await pipeline(body, response).catch(() => {
    response.destroy();
  });
}

/** A single byte range within `size`, undefined for none (or one we do not honour), or unsatisfiable. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const start = Number(match[1]);
  const end = match[2] === "" || match[2] === undefined ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || end < start) return "unsatisfiable";
  return { start, end };
}
