import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest, type RequestOptions as TlsRequestOptions } from "node:https";
import type { Readable } from "node:stream";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { GroundcrewError } from "../../shared/errors.js";

/** Where the registry is and whom to trust. */
export interface RegistryTarget {
  /** "https://10.0.0.5:5000" or "http://127.0.0.1:5000": scheme, host and port only. */
  readonly url: string;
  /** PEM: when given, only this CA is trusted (https only). */
  readonly ca?: string;
  /** The TLS name to check when the URL's host is not in the certificate. */
  readonly serverName?: string;
}

/** A registry's answer; `body` is capped at MAX_BODY_BYTES (the rest is drained). */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface HttpCall {
  readonly method: "GET" | "HEAD" | "POST" | "PUT" | "DELETE";
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  /** Bytes (Content-Length set here) or a stream (the caller sets Content-Length). */
  readonly body?: Uint8Array | Readable;
  /** The whole exchange must end within this; default 60 s. */
  readonly deadlineMs?: number;
  /** Nothing sent or received for this long ends it; default 30 s. */
  readonly idleMs?: number;
}

const MAX_BODY_BYTES = 64 * 1024;

/** The URL without its query (upload states) for messages. */
export function shownUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * The target's base URL, validated: http or https, no credentials, path,
 * query or fragment; a CA only with https. Throws REGISTRY_UNREACHABLE.
 */
export function baseUrl(target: RegistryTarget): URL {
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    throw new GroundcrewError(
      "REGISTRY_UNREACHABLE",
      `the registry URL ${JSON.stringify(target.url)} is not a URL`,
    );
  }
  const plain = url.protocol === "http:";
  if (
    (!plain && url.protocol !== "https:") ||
    url.username !== "" ||
    url.password !== "" ||
    (url.pathname !== "/" && url.pathname !== "") ||
    url.search !== "" ||
    url.hash !== ""
  ) {
    throw new GroundcrewError(
      "REGISTRY_UNREACHABLE",
      `the registry URL ${url.origin} must be http(s)://host:port only`,
    );
  }
  if (plain && target.ca !== undefined) {
    throw new GroundcrewError(
      "REGISTRY_UNREACHABLE",
      `a CA was given for the plain-HTTP registry ${url.origin}`,
    );
  }
  return url;
}

function tlsOptions(target: RegistryTarget): TlsRequestOptions {
  const serverName = target.serverName;
  return {
    ...(target.ca === undefined ? {} : { ca: [target.ca] }),
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
    ...(serverName === undefined
      ? {}
      : {
          servername: serverName,
          checkServerIdentity: (_host: string, cert: PeerCertificate) =>
            checkServerIdentity(serverName, cert),
        }),
  };
}

function errnoOf(error: unknown): string {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
  return typeof code === "string" ? code : "ERROR";
}

/**
 * One HTTP exchange with the registry. Resolves with any status (callers
 * judge it); rejects with REGISTRY_UNREACHABLE (retryable) when the
 * connection, TLS or a timeout fails, or with the body stream's own error
 * when the body fails (the request is then aborted: the registry never
 * sees a complete body). Never waits longer than `deadlineMs`.
 */
export function send(target: RegistryTarget, call: HttpCall): Promise<HttpAnswer> {
  const { url, method } = call;
  const deadlineMs = call.deadlineMs ?? 60_000;
  const idleMs = call.idleMs ?? 30_000;
  const bytes = call.body instanceof Uint8Array ? call.body : undefined;
  const stream = call.body instanceof Uint8Array ? undefined : call.body;
  const headers = {
    ...call.headers,
    ...(bytes === undefined ? {} : { "Content-Length": String(bytes.byteLength) }),
  };
  const https = url.protocol === "https:";
  return new Promise<HttpAnswer>((resolve, reject) => {
    let bodyFailure: Error | undefined;
    let settled = false;
    const finish = (outcome: () => void): void => {
      clearTimeout(deadline);
      if (settled) return;
      settled = true;
      outcome();
    };
    const options: TlsRequestOptions = {
      method,
      headers,
      agent: false,
      ...(https ? tlsOptions(target) : {}),
    };
    const req = (https ? httpsRequest : httpRequest)(url, options, (response) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      response.on("data", (chunk: Buffer) => {
        if (kept < MAX_BODY_BYTES) chunks.push(chunk.subarray(0, MAX_BODY_BYTES - kept));
        kept += chunk.length;
      });
      response.once("end", () => {
        stream?.destroy();
        finish(() => {
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
          });
        });
      });
      response.once("error", (error) => {
        req.destroy(error);
      });
    });
    const deadline = setTimeout(() => {
      req.destroy(Object.assign(new Error(`no answer within ${deadlineMs} ms`), { code: "ETIMEDOUT" }));
    }, deadlineMs);
    req.setTimeout(idleMs, () => {
      req.destroy(Object.assign(new Error(`idle for ${idleMs} ms`), { code: "ETIMEDOUT" }));
    });
    req.once("error", (error) => {
      stream?.destroy();
      finish(() => {
        if (bodyFailure !== undefined) {
          reject(bodyFailure);
          return;
        }
        const code = errnoOf(error);
        reject(
          new GroundcrewError(
            "REGISTRY_UNREACHABLE",
            `${method} ${shownUrl(url)} failed: ${code} (${error.message})`,
            {
              cause: error,
              retryable: true,
              context: { url: shownUrl(url), errno: code },
            },
          ),
        );
      });
    });
    if (stream === undefined) {
      req.end(bytes);
      return;
    }
    stream.once("error", (error) => {
      bodyFailure = error;
      req.destroy(error);
    });
    stream.pipe(req);
  });
}
