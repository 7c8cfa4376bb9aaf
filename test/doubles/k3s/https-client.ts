import { request } from "node:https";

export interface HttpsResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** This machine's address on the connection: the address the server sees. */
  readonly localAddress: string;
}

export interface HttpsOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Trust only this CA (PEM). Without it, and without `insecure`, the system roots. */
  readonly ca?: string;
  /** Accept any certificate: only for fetching /cacerts before its hash is checked. */
  readonly insecure?: boolean;
  readonly timeoutMs?: number;
}

/** The request did not get an HTTP answer (refused, unreachable, TLS failure, timeout). */
export class ConnectionError extends Error {
  override readonly name = "ConnectionError";
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const MAX_BODY = 8 << 20;

/** One HTTPS request without connection reuse; resolves with any HTTP status, rejects with ConnectionError. */
export function httpsRequest(url: URL, options: HttpsOptions = {}): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers["content-length"] = String(Buffer.byteLength(options.body));
    const req = request(
      url,
      {
        method: options.method ?? "GET",
        headers,
        agent: false,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        rejectUnauthorized: options.insecure !== true,
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY) req.destroy(new Error("response too large"));
          else chunks.push(chunk);
        });
        res.on("end", () => {
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers["content-type"] ?? "",
            body: Buffer.concat(chunks).toString("utf8"),
            localAddress: stripMappedPrefix(req.socket?.localAddress ?? ""),
          });
        });
        res.on("error", (error) => {
          reject(new ConnectionError(error.message, undefined));
        });
      },
    );
    req.on("timeout", () => req.destroy(Object.assign(new Error("i/o timeout"), { code: "ETIMEDOUT" })));
    req.on("error", (error: NodeJS.ErrnoException) => {
      reject(new ConnectionError(error.message, error.code));
    });
    req.end(options.body);
  });
}

/** "::ffff:10.0.0.1" → "10.0.0.1". */
export function stripMappedPrefix(address: string): string {
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
