import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import { TLSSocket } from "node:tls";
import { z } from "zod";
import { casPath, HOST_CAS_DIR } from "../../shared/artifacts.js";

const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

/** The only paths the depot answers: a final file of the store, by sha256. No query, no encoding, no dots. */
const casRequestPathSchema = z.string().regex(/^\/cas\/sha256\/[0-9a-f]{64}$/);
/** One range, `bytes=N-` or `bytes=N-M`; anything else (several ranges, suffix ranges) is ignored. */
const rangeHeaderSchema = z.string().regex(/^bytes=\d{1,15}-\d{0,15}$/);

export interface DepotServerOptions {
  /** The store's root (its `sha256/` files are served). Default HOST_CAS_DIR. */
  readonly root?: string;
  /** 0 picks a free port (see the result's `port`). */
  readonly port: number;
  /** Address to bind. Default 0.0.0.0. */
  readonly host?: string;
  /** This host's certificate and key (secret: never logged), and our CA, the only one trusted for clients. */
  readonly tls: { readonly caPem: string; readonly certPem: string; readonly keyPem: string };
  /** Host names whose certificates (CN) may fetch. */
  readonly allowedHosts: readonly string[];
  /** One line per refused request or failed transfer. */
  readonly log?: (line: string) => void;
}

export interface DepotServer {
  readonly port: number;
  /** Body bytes sent since start (ranges count what was sent, HEAD counts nothing). */
  readonly bytesServed: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/**
 * Serves the store's verified artifacts to the other hosts over mutual TLS.
 * A client must present a certificate of our CA (handshake refused
 * otherwise) with the clientAuth EKU and a CN in `allowedHosts` (403
 * otherwise). `GET`/`HEAD /cas/sha256/<64 hex>` answers 200, or 206 for a
 * single `Range: bytes=N-[M]` (416 when it starts past the end), as
 * application/octet-stream; 404 when the artifact is not stored (partial
 * files are never served), 400 for any other path, 405 for other methods.
 * Rejects when the address cannot be bound.
 */
export async function startDepotServer(options: DepotServerOptions): Promise<DepotServer> {
  const root = options.root ?? HOST_CAS_DIR;
  const allowed = new Set(options.allowedHosts);
  const log = options.log ?? (() => undefined);
  let bytesServed = 0;
  const server = createServer(
    {
      ca: [options.tls.caPem],
      cert: options.tls.certPem,
      key: options.tls.keyPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      // Nobody holds a socket open without finishing the handshake or sending the request.
      handshakeTimeout: 10_000,
    },
    (req, res) => {
      void handle(req, res).catch((error: unknown) => {
        log(`${remoteOf(req)} ${req.url ?? ""}: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) reply(res, 500, "internal error");
        else res.destroy();
      });
    },
  );
  // With rejectUnauthorized, Node destroys a socket whose certificate fails
  // verification right after the handshake; the reason is on the socket.
  server.on("tlsClientError", (error, socket) => {
    const verifyError: unknown = socket.authorizationError;
    const reason =
      typeof verifyError === "string" ? `client certificate refused: ${verifyError}` : error.message;
    log(`refused handshake from ${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}: ${reason}`);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  // An idle connection (a client that stopped reading, or a kept-alive one) is dropped after 60 s.
  server.setTimeout(60_000, (socket) => socket.destroy());

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal =
      req.socket instanceof TLSSocket ? refusePeer(req.socket, allowed) : "not a TLS connection";
    if (refusal !== undefined) {
      log(`refused ${remoteOf(req)}: ${refusal}`);
      reply(res, 403, "forbidden");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      reply(res, 405, "method not allowed");
      return;
    }
    const url = casRequestPathSchema.safeParse(req.url);
    if (!url.success) {
      reply(res, 400, "bad path");
      return;
    }
    const file = casPath(url.data.slice("/cas/sha256/".length), root);
    const handle = await openFinal(file);
    if (handle === undefined) {
      reply(res, 404, "not found");
      return;
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) {
        reply(res, 404, "not found");
        return;
      }
      const size = stats.size;
      const range = byteRange(req.headers.range, size);
      if (range === "unsatisfiable") {
        res.setHeader("Content-Range", `bytes */${size}`);
        reply(res, 416, "range not satisfiable");
        return;
      }
      const { start, end } = range ?? { start: 0, end: size - 1 };
      res.writeHead(range === undefined ? 200 : 206, {
        "Content-Type": "application/octet-stream",
        "Content-Length": String(end - start + 1),
        "Accept-Ranges": "bytes",
        ...(range === undefined ? {} : { "Content-Range": `bytes ${start}-${end}/${size}` }),
      });
      if (req.method === "HEAD" || end < start) {
        res.end();
        return;
      }
      const counted = async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
        for await (const chunk of source) {
          bytesServed += chunk.byteLength;
          yield chunk;
        }
      };
      await pipeline(handle.createReadStream({ start, end, autoClose: false }), counted, res).catch(
        (error: unknown) => {
          log(
            `${remoteOf(req)} ${req.url ?? ""}: transfer ended: ${error instanceof Error ? error.message : String(error)}`,
          );
        },
      );
    } finally {
      await handle.close();
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get bytesServed() {
      return bytesServed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/** Why a verified peer may not fetch, or undefined when it may. */
function refusePeer(socket: TLSSocket, allowed: ReadonlySet<string>): string | undefined {
  if (!socket.authorized) return "client certificate not verified";
  const cert = socket.getPeerCertificate();
  const cn: unknown = (cert.subject as { CN?: unknown } | undefined)?.CN;
  if (typeof cn !== "string" || cn === "") return "client certificate has no single CN";
  if (!(cert.ext_key_usage ?? []).includes(CLIENT_AUTH_OID)) {
    return `certificate of ${cn} is not for client authentication`;
  }
  if (!allowed.has(cn)) return `${cn} is not an allowed host`;
  return undefined;
}

/** The inclusive byte range asked for; undefined for the whole file (no or an ignored Range header). */
function byteRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  const parsed = rangeHeaderSchema.safeParse(header);
  if (!parsed.success) return undefined;
  const [first = "", last = ""] = parsed.data.slice("bytes=".length).split("-");
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

/** Opens a final file without following a link; undefined when there is none. */
async function openFinal(file: string): Promise<FileHandle | undefined> {
  try {
    return await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = error instanceof Error && "code" in error ? error.code : undefined;
    if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR") return undefined;
    throw error;
  }
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(text.length + 1),
  });
  res.end(`${text}\n`);
}

function remoteOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`;
}
