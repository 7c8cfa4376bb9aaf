import type { IncomingMessage } from "node:http";
import { request } from "node:https";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { z } from "zod";
import type { ArtifactRef } from "../../shared/artifacts.js";
import type { ArtifactSource } from "../../shared/depot-config.js";
import { GroundcrewError, isGroundcrewError } from "../../shared/errors.js";
import type { CasStore } from "./store.js";

/** This host's certificate and key (secret: never logged) and our CA, the only one trusted. PEM text. */
export interface ClientTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface FetchProgress {
  /** Bytes of the artifact on this host now (resumed bytes included). */
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

/** Why one source did not deliver. */
export interface SourceFailure {
  readonly source: string;
  /**
   * Short: an errno or TLS code ("ECONNREFUSED", "ECONNRESET", "ERR_TLS_CERT_ALTNAME_INVALID"), "HTTP 404",
   * "CAS_VERIFY_FAILED", or "INCOMPLETE" (the body ended before the artifact did).
   */
  readonly code: string;
  readonly reason: string;
  /** True when no connection could be made at all (refused, timed out, no route). */
  readonly unreachable: boolean;
}

export interface FetchResult {
  /** The source that delivered, or undefined when the artifact was already stored. */
  readonly servedBy: string | undefined;
  /** Body bytes received over the network, failed attempts included. */
  readonly bytesTransferred: number;
  /** Where the delivering transfer started (0, or the partial size it resumed from). */
  readonly resumedFrom: number;
  /** The sources tried before, in order. */
  readonly failures: readonly SourceFailure[];
}

export interface FetchOptions {
  readonly ref: ArtifactRef;
  readonly store: CasStore;
  /** Tried in order until one delivers. */
  readonly sources: readonly ArtifactSource[];
  readonly tls: ClientTls;
  /** After each chunk written. */
  readonly onProgress?: (progress: FetchProgress) => void;
  /** Cancels the fetch (no further source is tried). */
  readonly signal?: AbortSignal;
  /** Until the TLS handshake completes. Default 10 000. */
  readonly connectTimeoutMs?: number;
  /** Longest silence on the connection. Default 30 000. */
  readonly idleTimeoutMs?: number;
}

const contentRangeSchema = z.string().regex(/^bytes \d{1,15}-\d{1,15}\/\d{1,15}$/);
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** A source answered, but not with the artifact. */
class SourceAnswer extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Fetches `ref` into `store` from the first source that delivers it, over
 * mutual TLS: GET `<url>/cas/sha256/<sha256>`, with `Range: bytes=N-` to
 * resume from the bytes already received (a 200 answer starts over). A
 * source that cannot be reached, answers anything but 200/206, is cut off
 * or sends bytes that fail verification is recorded and the next one is
 * tried, resuming where the last left off (a verification failure after a
 * resume retries that source once from byte 0: the old bytes may have been
 * the bad ones). A partial file that is already complete (a kill between
 * its fsync and its rename) is verified and published without the network.
 *
 * Throws GroundcrewError CAS_FETCH_FAILED (retryable) naming the artifact
 * and each source's reason when none delivered, or when cancelled; errors
 * of this host's store (disk full, another writer) are thrown as they are.
 */
export async function fetchArtifact(options: FetchOptions): Promise<FetchResult> {
  const { ref, store } = options;
  if (await store.has(ref)) return { servedBy: undefined, bytesTransferred: 0, resumedFrom: 0, failures: [] };
  if ((await store.partialSize(ref.sha256)) === ref.size) {
    try {
      await store.writeFrom(ref, noBytes(), ref.size);
      return { servedBy: undefined, bytesTransferred: 0, resumedFrom: ref.size, failures: [] };
    } catch (error) {
      if (!isGroundcrewError(error, "CAS_VERIFY_FAILED")) throw error;
    }
  }
  const failures: SourceFailure[] = [];
  let transferred = 0;
  for (const source of options.sources) {
    for (let attempt = 0; ; attempt += 1) {
      throwIfCancelled(options, failures);
      const partial = await store.partialSize(ref.sha256);
      const offset = partial < ref.size ? partial : 0;
      const seen = { bytes: 0, sourceEnded: false, sourceFailed: false };
      try {
        await fromSource(options, source, offset, seen);
        transferred += seen.bytes;
        return { servedBy: source.name, bytesTransferred: transferred, resumedFrom: offset, failures };
      } catch (error) {
        transferred += seen.bytes;
        throwIfCancelled(options, failures);
        const failure = sourceFailure(source, error, seen);
        if (failure === undefined) throw error;
        if (failure.code === "CAS_VERIFY_FAILED" && offset > 0 && attempt === 0) continue;
        failures.push(failure);
        break;
      }
    }
  }
  throw new GroundcrewError(
    "CAS_FETCH_FAILED",
    `cannot fetch ${ref.path} (sha256 ${ref.sha256}) from any source: ` +
      failures.map((failure) => `${failure.source}: ${failure.reason}`).join("; "),
    { retryable: true, context: { path: ref.path, sha256: ref.sha256, sources: failures.length } },
  );
}

interface Seen {
  bytes: number;
  sourceEnded: boolean;
  sourceFailed: boolean;
}

/** One transfer from one source into the store. */
async function fromSource(options: FetchOptions, source: ArtifactSource, offset: number, seen: Seen) {
  const { ref, store } = options;
  const url = `${source.url.replace(/\/+$/, "")}/cas/sha256/${ref.sha256}`;
  const { response, timedOut } = await get(url, offset, source.serverName, options);
  const start = startOf(response, ref, offset);
  if (start === undefined) {
    response.resume();
    throw new SourceAnswer(
      `HTTP ${response.statusCode ?? 0}`,
      `answered HTTP ${response.statusCode ?? 0} ${response.statusMessage ?? ""}`.trimEnd(),
    );
  }
  const body = async function* (): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of response) {
        seen.bytes += (chunk as Buffer).byteLength;
        yield chunk as Buffer;
      }
    } catch (error) {
      seen.sourceFailed = true;
      throw timedOut() ?? error;
    }
    seen.sourceEnded = true;
  };
  let done = start;
  try {
    await store.writeFrom(ref, body(), start, {
      onBytes: (bytes) => {
        done += bytes;
        options.onProgress?.({ bytesDone: done, bytesTotal: ref.size });
      },
    });
  } finally {
    // Also when the store refused before reading: the connection is not reused (agent: false).
    response.destroy();
  }
}

/**
 * Where the response body starts in the artifact: 0 for a 200 of the right
 * length, `offset` for a 206 with the matching Content-Range. Throws
 * SourceAnswer for a 2xx that does not fit; undefined for other statuses.
 */
function startOf(response: IncomingMessage, ref: ArtifactRef, offset: number): number | undefined {
  const length = response.headers["content-length"];
  if (response.statusCode === 200) {
    if (length !== undefined && Number(length) !== ref.size) {
      response.resume();
      throw new SourceAnswer("HTTP 200", `serves ${length} bytes for an artifact of ${ref.size}`);
    }
    return 0;
  }
  if (response.statusCode === 206) {
    const range = contentRangeSchema.safeParse(response.headers["content-range"]);
    const [first, last, total] = range.success
      ? range.data.slice("bytes ".length).split(/[-/]/).map(Number)
      : [];
    if (first !== offset || last !== ref.size - 1 || total !== ref.size) {
      response.resume();
      throw new SourceAnswer("HTTP 206", `answered range ${response.headers["content-range"] ?? "(none)"}`);
    }
    return offset;
  }
  return undefined;
}

/**
 * A GET with our client certificate; resolves once the response headers are
 * in, with the timeout that ended the body early, if one did.
 */
function get(
  url: string,
  offset: number,
  serverName: string | undefined,
  options: FetchOptions,
): Promise<{ response: IncomingMessage; timedOut: () => Error | undefined }> {
  const { tls } = options;
  const connectMs = options.connectTimeoutMs ?? 10_000;
  const idleMs = options.idleTimeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "GET",
      agent: false,
      ca: [tls.ca],
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      ...(serverName === undefined
        ? {}
        : {
            servername: serverName,
            checkServerIdentity: (_host: string, cert: PeerCertificate) =>
              checkServerIdentity(serverName, cert),
          }),
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    let timeout: Error | undefined;
    const connectTimer = setTimeout(() => {
      timeout = coded("ETIMEDOUT", `no TLS connection within ${connectMs} ms`);
      req.destroy(timeout);
    }, connectMs);
    req.once("socket", (socket) => {
      socket.once("secureConnect", () => {
        clearTimeout(connectTimer);
      });
    });
    req.setTimeout(idleMs, () => {
      timeout = coded("ETIMEDOUT", `nothing received for ${idleMs} ms`);
      req.destroy(timeout);
    });
    req.once("response", (response) => {
      clearTimeout(connectTimer);
      resolve({ response, timedOut: () => timeout });
    });
    req.on("error", (error) => {
      clearTimeout(connectTimer);
      reject(error);
    });
    req.once("close", () => {
      clearTimeout(connectTimer);
    });
    req.end();
  });
}

/** The failure to record for `source`, or undefined when the error is this host's own (rethrown). */
function sourceFailure(source: ArtifactSource, error: unknown, seen: Seen): SourceFailure | undefined {
  const name = source.name;
  if (error instanceof SourceAnswer) {
    return { source: name, code: error.code, reason: error.message, unreachable: false };
  }
  if (isGroundcrewError(error, "CAS_VERIFY_FAILED")) {
    return { source: name, code: error.code, reason: error.message, unreachable: false };
  }
  if (isGroundcrewError(error)) {
    // A body that failed or ended early (the store kept its bytes: retryable) is the source's
    // failure; anything else the store throws (disk full, another writer) is this host's.
    if (error.code === "CAS_WRITE_FAILED" && error.retryable && (seen.sourceFailed || seen.sourceEnded)) {
      return {
        source: name,
        code: errnoOf(error.cause) ?? "INCOMPLETE",
        reason: error.message,
        unreachable: false,
      };
    }
    return undefined;
  }
  const code = errnoOf(error) ?? "ERROR";
  const reason = error instanceof Error ? error.message : "unknown error";
  return { source: name, code, reason, unreachable: UNREACHABLE.has(code) };
}

function errnoOf(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

function throwIfCancelled(options: FetchOptions, failures: readonly SourceFailure[]): void {
  if (options.signal?.aborted !== true) return;
  throw new GroundcrewError("CAS_FETCH_FAILED", `fetching ${options.ref.path} was cancelled`, {
    retryable: true,
    context: { path: options.ref.path, sha256: options.ref.sha256, sources: failures.length },
  });
}

function coded(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

async function* noBytes(): AsyncGenerator<Uint8Array> {}
