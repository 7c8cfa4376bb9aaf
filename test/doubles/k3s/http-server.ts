import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CertAndKey } from "./pki.js";
import { error as logError } from "./log.js";
import { messageOf } from "./fatal.js";

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const MAX_BODY = 4 << 20;

/** Serves `handler` over HTTPS with `serving` on `address:port`; resolves once listening. */
export function listenHttps(
  serving: CertAndKey,
  address: string,
  port: number,
  handler: Handler,
): Promise<Server> {
  const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    handler(req, res).catch((error: unknown) => {
      logError(`Internal error answering ${req.method ?? ""} ${req.url ?? ""}: ${messageOf(error)}`);
      if (!res.headersSent) sendText(res, 500, "Internal Server Error");
      else res.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

/** The request body as text; over 4 MiB is refused (a HelmChart with its chart inline fits). */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_BODY) throw new Error("request body too large");
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(text);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(`${JSON.stringify(value)}\n`);
}

/** A Kubernetes `v1 Status` failure, as the apiserver answers errors. */
export function sendStatus(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  details?: object,
): void {
  sendJson(res, code, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code,
  });
}

/** `user:password` of a Basic Authorization header. */
export function basicCredentials(req: IncomingMessage): { username: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1] ?? "", "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The token of a Bearer Authorization header. */
export function bearerToken(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
}

/** `address:port` of the peer, for log lines. */
export function peerOf(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? "";
  return `${address.startsWith("::ffff:") ? address.slice(7) : address}:${req.socket.remotePort ?? 0}`;
}
