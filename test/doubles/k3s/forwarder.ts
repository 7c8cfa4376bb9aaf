import type { ServerResponse } from "node:http";
import { messageOf } from "./fatal.js";
import { httpsRequest } from "./https-client.js";
import { readBody, sendStatus, sendText, type Handler } from "./http-server.js";
import { error as logError } from "./log.js";
import { NODE_NAME_HEADER, NODE_PASSWORD_HEADER, PATHS } from "./protocol.js";

const FORWARDED_HEADERS = ["authorization", "content-type", "accept", NODE_NAME_HEADER, NODE_PASSWORD_HEADER];

/**
 * A joined server's API on 6443: /ping and /cacerts are answered here (the
 * CA is the cluster's); every other request (joins, heartbeats, the node
 * API) is forwarded to the server this one joined, which holds the
 * datastore, and its answer is passed back. When that server cannot be
 * reached the answer is 503 (node API) or 502.
 */
export function forwardingHandler(seed: URL, caCertPem: string): Handler {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "https://localhost");
    if (req.method === "GET" && url.pathname === PATHS.ping) {
      sendText(res, 200, "pong");
      return;
    }
    if (req.method === "GET" && url.pathname === PATHS.cacerts) {
      sendText(res, 200, caCertPem);
      return;
    }
    const body = await readBody(req);
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = req.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    try {
      const answer = await httpsRequest(new URL(`${url.pathname}${url.search}`, seed), {
        method: req.method ?? "GET",
        headers,
        ca: caCertPem,
        ...(body === "" ? {} : { body }),
      });
      res.writeHead(answer.status, { "content-type": answer.contentType || "text/plain" });
      res.end(answer.body);
    } catch (error) {
      unavailable(res, url.pathname, `${seed.origin}: ${messageOf(error)}`);
    }
  };
}

function unavailable(res: ServerResponse, pathname: string, detail: string): void {
  logError(`Failed to reach the cluster datastore at ${detail}`);
  if (pathname.startsWith("/api/"))
    sendStatus(res, 503, "ServiceUnavailable", "the datastore is not reachable");
  else sendText(res, 502, "Bad Gateway");
}
