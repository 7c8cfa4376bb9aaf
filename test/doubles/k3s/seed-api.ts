import type { IncomingMessage, ServerResponse } from "node:http";
import type { ClusterState } from "./cluster-state.js";
import {
  basicCredentials,
  bearerToken,
  peerOf,
  readBody,
  sendJson,
  sendStatus,
  sendText,
  type Handler,
} from "./http-server.js";
import { error as logError, info } from "./log.js";
import { nodeRoutes } from "./node-api.js";
import { objectRoutes } from "./object-routes.js";
import type { ObjectStore } from "./object-store.js";
import {
  heartbeatSchema,
  NODE_NAME_HEADER,
  NODE_PASSWORD_HEADER,
  PATHS,
  registrationSchema,
  type Bootstrap,
} from "./protocol.js";
import { sameSecret } from "./token.js";
import { K3S_VERSION } from "./version.js";

/** What the first server answers with. Secrets: the CA key and every password. */
export interface SeedContext {
  readonly state: ClusterState;
  readonly objects: ObjectStore;
  readonly caCertPem: string;
  readonly caKeyPem: string;
  readonly serverPassword: string;
  /** A separate agent token's password; undefined: agents use the server token. */
  readonly agentPassword: string | undefined;
}

export const NODE_PASSWORD_REJECTED =
  "Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' may not match server node-passwd entry, try enabling a unique node name with the --with-node-id flag";

/**
 * The first server's API on 6443:
 *   GET  /ping, /cacerts, /version          anonymous
 *   GET  /v1-k3s/server-bootstrap           basic auth `server`
 *   POST /v1-k3s/double/register|heartbeat  basic auth `server`, or `node` with the agent token
 *                                           (registering a server needs `server`)
 *   /api/v1/nodes[/NAME] (node-api.ts), other resources (object-routes.ts),
 *   GET /readyz, /livez                     bearer admin token
 * Wrong credentials: 401 (and k3s's log line); a node name held by another
 * node password: 403; heartbeat of a deleted node: 404.
 */
export function seedHandler(context: SeedContext): Handler {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "https://localhost");
    const route = `${req.method ?? "GET"} ${url.pathname}`;
    if (route === `GET ${PATHS.ping}`) {
      sendText(res, 200, "pong");
      return;
    }
    if (route === `GET ${PATHS.cacerts}`) {
      sendText(res, 200, context.caCertPem);
      return;
    }
    if (route === "GET /version") {
      sendJson(res, 200, versionInfo());
      return;
    }
    if (url.pathname.startsWith("/v1-k3s/")) return supervisor(context, req, res, route);
    if (!isAdmin(context, req)) {
      sendStatus(res, 401, "Unauthorized", "Unauthorized");
      return;
    }
    if (route === "GET /readyz" || route === "GET /livez") {
      sendText(res, 200, "ok");
      return;
    }
    if (await nodeRoutes(context.state, context.objects, req, res, url.pathname)) return;
    if (await objectRoutes(context.state, context.objects, req, res, url.pathname)) return;
    sendStatus(res, 404, "NotFound", "the server could not find the requested resource");
  };
}

async function supervisor(
  context: SeedContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
): Promise<void> {
  const user = authenticate(context, req);
  if (user === undefined) {
    logError(`Failed to authenticate request from ${peerOf(req)}: invalid username/password combination`);
    sendText(res, 401, "Unauthorized");
    return;
  }
  if (route === `GET ${PATHS.bootstrap}`) {
    if (user !== "server") {
      sendText(res, 403, "Forbidden");
      return;
    }
    const bootstrap: Bootstrap = {
      caCertPem: context.caCertPem,
      caKeyPem: context.caKeyPem,
      adminToken: context.state.adminToken,
      serverPassword: context.serverPassword,
      ...(context.agentPassword === undefined ? {} : { agentPassword: context.agentPassword }),
      embeddedEtcd: context.state.embeddedEtcd,
    };
    sendJson(res, 200, bootstrap);
    return;
  }
  const name = header(req, NODE_NAME_HEADER);
  const password = header(req, NODE_PASSWORD_HEADER);
  if (name === undefined || password === undefined) {
    sendText(res, 400, "missing node name or node password");
    return;
  }
  if (route === `POST ${PATHS.register}`) {
    const parsed = registrationSchema.safeParse(parseJson(await readBody(req)));
    if (!parsed.success) {
      sendText(res, 400, `invalid registration: ${parsed.error.message}`);
      return;
    }
    const registration = parsed.data;
    if (registration.role === "server" && user !== "server") {
      sendText(res, 403, "Forbidden");
      return;
    }
    const outcome = context.state.register(name, password, registration);
    if (outcome === "password-rejected") {
      logError(`Failed to register node ${name} from ${peerOf(req)}: ${NODE_PASSWORD_REJECTED}`);
      sendText(res, 403, NODE_PASSWORD_REJECTED);
      return;
    }
    if (outcome === "registered")
      info(`Registered ${registration.role} node ${name} (${registration.internalIp})`);
    sendJson(res, 200, { outcome });
    return;
  }
  if (route === `POST ${PATHS.heartbeat}`) {
    const beat = heartbeatSchema.safeParse(parseJson(await readBody(req)));
    const outcome = context.state.heartbeat(name, password, beat.success ? beat.data.status : undefined);
    if (outcome === "not-found") {
      sendText(res, 404, `nodes "${name}" not found`);
      return;
    }
    if (outcome === "password-rejected") {
      sendText(res, 403, NODE_PASSWORD_REJECTED);
      return;
    }
    sendJson(res, 200, { outcome });
    return;
  }
  sendText(res, 404, "404 page not found");
}

/** `server` with the server token's password, or `node` with the agent token's (the server's when none is separate). */
function authenticate(context: SeedContext, req: IncomingMessage): "server" | "node" | undefined {
  const credentials = basicCredentials(req);
  if (credentials === undefined) return undefined;
  if (credentials.username === "server" && sameSecret(credentials.password, context.serverPassword))
    return "server";
  const agentPassword = context.agentPassword ?? context.serverPassword;
  if (credentials.username === "node" && sameSecret(credentials.password, agentPassword)) return "node";
  return undefined;
}

function isAdmin(context: SeedContext, req: IncomingMessage): boolean {
  const token = bearerToken(req);
  return token !== undefined && sameSecret(token, context.state.adminToken);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function versionInfo(): Record<string, string> {
  const [major = "1", minor = "0"] = K3S_VERSION.slice(1).split(".");
  return {
    major,
    minor,
    gitVersion: K3S_VERSION,
    gitCommit: "groundcrew-double",
    gitTreeState: "clean",
    goVersion: "go1.24.4",
    compiler: "gc",
    platform: `linux/${process.arch === "x64" ? "amd64" : process.arch}`,
  };
}
