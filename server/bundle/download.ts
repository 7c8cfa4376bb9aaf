import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as delay } from "node:timers/promises";
import { GroundcrewError } from "../../shared/errors.js";
import { VERSION } from "../../shared/version.js";
import { syncDir, syncFile } from "./pack.js";

export interface DownloadOptions {
  /** An http:// or https:// URL. */
  readonly url: string;
  /** Where the verified file ends up; the bytes arrive in `dest + ".part"` first. */
  readonly dest: string;
  readonly expectedSha256?: string;
  readonly expectedSize?: number;
  /** Bytes of the file held so far (a resumed part included) and its size when known. */
  readonly onProgress?: (bytesDone: number, bytesTotal: number | undefined) => void;
  /** Called before waiting to retry after a network error or a 5xx/408/429 answer. */
  readonly onRetry?: (retry: RetryInfo) => void;
  /** Retries without progress before giving up (default 5); an attempt that got further does not count. */
  readonly retries?: number;
  readonly signal?: AbortSignal;
  /** Waits `ms` (tests pass one that does not). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** First retry delay (default 1 s), doubled per retry up to `maxDelayMs` (default 30 s), jittered. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** A connection silent this long is dropped and retried (default 60 s). */
  readonly idleTimeoutMs?: number;
  /** Continue an existing `.part` (default true); false starts from zero. */
  readonly resume?: boolean;
}

export interface RetryInfo {
  /** 1 for the first retry. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

export interface DownloadResult {
  readonly sha256: string;
  readonly size: number;
  /** Bytes of an earlier `.part` that were kept rather than fetched again (0 when none). */
  readonly resumedFrom: number;
}

const MAX_REDIRECTS = 5;
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/**
 * Downloads `url` to `dest`, resuming a `.part` left by an interrupted run
 * with `Range: bytes=N-` (a server that answers 200 instead of 206 is read
 * from byte 0; 416 means the part is complete or corrupt, and is verified).
 * Follows up to 5 redirects, never from https to http. Network errors and
 * 5xx/408/429 answers are retried with exponential backoff and jitter; other
 * 4xx answers are not. The sha256 covers the whole file, kept part included.
 *
 * Promises: a file appears under `dest` only once its size and sha256 are the
 * expected ones (when given); it is fsynced, then renamed from `.part`.
 * Throws BUNDLE_ARTIFACT_MISMATCH (naming the URL, expected and actual
 * sha256) after deleting the part when the bytes are wrong, and
 * BUNDLE_DOWNLOAD_FAILED when the server refuses or retries run out (the
 * part is kept for the next run then). Rejects with the signal's AbortError
 * when aborted.
 */
export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const part = `${options.dest}.part`;
  const retries = options.retries ?? 5;
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));
  if (options.resume === false) await rm(part, { force: true });
  let failures = 0;
  let retried = 0;
  let furthest = 0;
  let mayRestart = true;
  for (;;) {
    options.signal?.throwIfAborted();
    const held = { atStart: -1, now: 0 };
    try {
      const fetched = await attempt(options, part, (bytes) => {
        if (held.atStart < 0) held.atStart = bytes;
        held.now = bytes;
      });
      const problem = mismatch(options, fetched);
      if (problem === undefined) {
        await syncFile(part);
        await rename(part, options.dest);
        await syncDir(path.dirname(options.dest));
        return fetched;
      }
      await rm(part, { force: true });
      // Kept bytes may be what is wrong (an upstream file replaced between runs): one clean try.
      if (fetched.resumedFrom > 0 && mayRestart) {
        mayRestart = false;
        continue;
      }
      throw mismatchError(options, fetched, problem);
    } catch (error) {
      if (!isTransient(error) || options.signal?.aborted === true) throw asDownloadError(options.url, error);
      // Only an attempt that got no further than any before counts against `retries`.
      if (held.now <= Math.max(furthest, held.atStart)) failures += 1;
      furthest = Math.max(furthest, held.now);
      if (failures > retries) {
        throw new GroundcrewError(
          "BUNDLE_DOWNLOAD_FAILED",
          `download of ${displayUrl(options.url)} failed after ${retries} retries: ${reasonOf(error)}`,
          { cause: error, retryable: true, context: { url: displayUrl(options.url) } },
        );
      }
      const exponent = Math.max(failures - 1, 0);
      const base = Math.min(options.maxDelayMs ?? 30_000, (options.baseDelayMs ?? 1000) * 2 ** exponent);
      const delayMs = Math.round(base / 2 + (Math.random() * base) / 2);
      retried += 1;
      options.onRetry?.({ attempt: retried, delayMs, reason: reasonOf(error) });
      await sleep(delayMs, options.signal);
    }
  }
}

/** A failure worth retrying: the network, or a server that says so (5xx, 408, 429). */
class TransientError extends Error {}

/**
 * One request: continues the part on disk and returns the whole file's size
 * and sha256 once the body has arrived. Reports the bytes held through
 * `held` as they grow, so the caller can tell progress from a stall.
 */
async function attempt(
  options: DownloadOptions,
  part: string,
  held: (bytes: number) => void,
): Promise<DownloadResult> {
  let { size: offset, hash } = await hashFile(part);
  if (options.expectedSize !== undefined && offset > options.expectedSize) {
    await rm(part, { force: true });
    ({ size: offset, hash } = { size: 0, hash: createHash("sha256") });
  }
  held(offset);
  if (offset > 0 && offset === options.expectedSize) {
    return { size: offset, sha256: hash.digest("hex"), resumedFrom: offset };
  }
  const response = await get(new URL(options.url), offset, options);
  const status = response.statusCode ?? 0;
  let total: number | undefined;
  if (status === 416 && offset > 0) {
    response.resume();
    const actual = /^bytes \*\/(\d+)$/.exec(response.headers["content-range"] ?? "")?.[1];
    if (actual !== undefined && Number(actual) !== offset) {
      await rm(part, { force: true });
      throw new TransientError(`the server's file has ${actual} bytes, the part ${offset}: starting over`);
    }
    return { size: offset, sha256: hash.digest("hex"), resumedFrom: offset };
  }
  if (status === 206 && offset > 0) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers["content-range"] ?? "");
    if (range?.[1] === undefined || Number(range[1]) !== offset) {
      response.resume();
      await rm(part, { force: true });
      throw new TransientError(`the server answered a range that does not start at byte ${offset}`);
    }
    total = range[3] === "*" || range[3] === undefined ? undefined : Number(range[3]);
  } else if (status === 200) {
    if (offset > 0) ({ size: offset, hash } = { size: 0, hash: createHash("sha256") }); // no ranges: start over
    const length = response.headers["content-length"];
    total = length === undefined ? undefined : Number(length);
  } else {
    response.resume();
    const message = `${displayUrl(options.url)}: HTTP ${status} ${response.statusMessage ?? ""}`.trim();
    if (status >= 500 || status === 408 || status === 429) throw new TransientError(message);
    throw new GroundcrewError("BUNDLE_DOWNLOAD_FAILED", message, {
      context: { url: displayUrl(options.url), status },
    });
  }
  total ??= options.expectedSize;
  const start = offset;
  let done = offset;
  options.onProgress?.(done, total);
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      done += chunk.byteLength;
      held(done);
      options.onProgress?.(done, total);
      callback(null, chunk);
    },
  });
  await pipeline(response, counter, createWriteStream(part, { flags: start === 0 ? "w" : "a" }), {
    signal: options.signal,
  });
  if (!response.complete || (total !== undefined && done < total)) {
    throw new TransientError(`the connection closed after ${done} of ${total ?? "?"} bytes`);
  }
  return { size: done, sha256: hash.digest("hex"), resumedFrom: start };
}

/** The sha256 of a file's bytes so far (an absent file is empty). */
async function hashFile(file: string): Promise<{ size: number; hash: Hash }> {
  const hash = createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of createReadStream(file)) {
      if (!(chunk instanceof Buffer)) throw new Error("a file stream yielded a string");
      hash.update(chunk);
      size += chunk.byteLength;
    }
  } catch (error) {
    if (!(error instanceof Error && "code" in error && error.code === "ENOENT")) throw error;
  }
  return { size, hash };
}

/** GET `url` (from byte `offset`), following redirects; resolves with the final response. */
async function get(url: URL, offset: number, options: DownloadOptions): Promise<IncomingMessage> {
  const headers: Record<string, string> = {
    "user-agent": `groundcrew/${VERSION}`,
    "accept-encoding": "identity",
    ...(offset > 0 ? { range: `bytes=${offset}-` } : {}),
  };
  let current = url;
  for (let hops = 0; ; hops++) {
    if (current.protocol !== "http:" && current.protocol !== "https:") {
      throw new GroundcrewError("BUNDLE_DOWNLOAD_FAILED", `${displayUrl(url.href)}: not an http(s) URL`);
    }
    const response = await requestOnce(current, headers, options);
    const location = response.headers.location;
    if (![301, 302, 303, 307, 308].includes(response.statusCode ?? 0) || location === undefined)
      return response;
    response.resume();
    const next = new URL(location, current);
    const refuse = (why: string): GroundcrewError =>
      new GroundcrewError("BUNDLE_DOWNLOAD_FAILED", `${displayUrl(url.href)}: ${why}`, {
        context: { url: displayUrl(url.href), redirect: displayUrl(next.href) },
      });
    if (hops >= MAX_REDIRECTS) throw refuse(`more than ${MAX_REDIRECTS} redirects`);
    if (current.protocol === "https:" && next.protocol === "http:") {
      throw refuse(`refusing a redirect from https to plain http (${displayUrl(next.href)})`);
    }
    current = next;
  }
}

function requestOnce(
  url: URL,
  headers: Record<string, string>,
  options: DownloadOptions,
): Promise<IncomingMessage> {
  const timeout = options.idleTimeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const client = url.protocol === "https:" ? https : http;
    const request = client.get(url, { headers, signal: options.signal, timeout }, resolve);
    request.on("timeout", () => {
      request.destroy(new TransientError(`no data for ${timeout / 1000} s`));
    });
    request.on("error", reject);
  });
}

function mismatch(options: DownloadOptions, fetched: DownloadResult): "size" | "sha256" | undefined {
  if (options.expectedSize !== undefined && fetched.size !== options.expectedSize) return "size";
  if (options.expectedSha256 !== undefined && fetched.sha256 !== options.expectedSha256) return "sha256";
  return undefined;
}

function mismatchError(
  options: DownloadOptions,
  fetched: DownloadResult,
  what: "size" | "sha256",
): GroundcrewError {
  const url = displayUrl(options.url);
  const detail =
    what === "size"
      ? `expected ${options.expectedSize ?? "?"} bytes, got ${fetched.size} (sha256 ${fetched.sha256})`
      : `expected sha256 ${options.expectedSha256 ?? "?"}, got ${fetched.sha256}`;
  return new GroundcrewError("BUNDLE_ARTIFACT_MISMATCH", `${url}: ${detail}`, {
    context: { url, expected: options.expectedSha256 ?? "", actual: fetched.sha256, size: fetched.size },
  });
}

function isTransient(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  if (!(error instanceof Error) || error.name === "AbortError") return false;
  const code = "code" in error ? error.code : undefined;
  return typeof code === "string" && NETWORK_CODES.has(code);
}

/** GroundcrewErrors and aborts as they are; anything else as BUNDLE_DOWNLOAD_FAILED. */
function asDownloadError(url: string, error: unknown): unknown {
  if (error instanceof GroundcrewError) return error;
  if (error instanceof Error && error.name === "AbortError") return error;
  return new GroundcrewError(
    "BUNDLE_DOWNLOAD_FAILED",
    `download of ${displayUrl(url)} failed: ${reasonOf(error)}`,
    {
      cause: error,
      context: { url: displayUrl(url) },
    },
  );
}

function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = "code" in error && typeof error.code === "string" ? ` (${error.code})` : "";
  return `${error.message}${code}`;
}

/** A URL for messages: no user or password, and any query string elided (it may hold a token). */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    const query = parsed.search === "" ? "" : "?…";
    parsed.search = "";
    return `${parsed.href}${query}`;
  } catch {
    return url;
  }
}
