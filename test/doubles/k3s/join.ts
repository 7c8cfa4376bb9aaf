import { FatalError } from "./fatal.js";
import { ConnectionError, httpsRequest, type HttpsResponse } from "./https-client.js";
import { NODE_PASSWORD_REJECTED } from "./seed-api.js";
import {
  bootstrapSchema,
  NODE_NAME_HEADER,
  NODE_PASSWORD_HEADER,
  PATHS,
  type Bootstrap,
  type NodeStatus,
  type Registration,
} from "./protocol.js";
import { caHashOf, type JoinToken } from "./token.js";

/** The server could not be used yet (unreachable, refusing, a node-password conflict): try again later. */
export class NotReadyError extends Error {
  override readonly name = "NotReadyError";
}

/** The cluster CA as a joining node sees it, and this node's address towards the server. */
export interface ClusterCa {
  readonly caCertPem: string;
  readonly localAddress: string;
}

/**
 * Fetches `/cacerts` from the server (without trusting anything yet) and,
 * for a secure token, checks its sha256 against the token's CA hash: a
 * mismatch is fatal, as in k3s. With a short token the CA is trusted as shown.
 */
export async function fetchClusterCa(server: URL, token: JoinToken): Promise<ClusterCa> {
  const answer = await reach(() => httpsRequest(new URL(PATHS.cacerts, server), { insecure: true }));
  if (answer.status !== 200)
    throw new NotReadyError(
      `failed to get CA certs: ${new URL(PATHS.cacerts, server).href}: ${answer.status}`,
    );
  const actual = caHashOf(answer.body);
  if (token.caHash !== undefined && token.caHash !== actual) {
    throw new FatalError(
      `token CA hash does not match the Cluster CA certificate hash: ${token.caHash} != ${actual}`,
    );
  }
  return { caCertPem: answer.body, localAddress: answer.localAddress };
}

/** A joining server's bootstrap data (the cluster CA and its key, admin token). A refused token is fatal. */
export async function fetchBootstrap(server: URL, ca: string, token: JoinToken): Promise<Bootstrap> {
  const url = new URL(PATHS.bootstrap, server);
  const answer = await reach(() => httpsRequest(url, { ca, headers: { authorization: basic(token) } }));
  refuseBadToken(url, answer);
  if (answer.status === 403) {
    throw new FatalError(
      `failed to bootstrap cluster data: ${url.href}: 403 Forbidden (a server must join with the server token)`,
    );
  }
  if (answer.status !== 200) throw new NotReadyError(`${url.href}: ${answer.status} ${answer.body.trim()}`);
  const parsed = bootstrapSchema.safeParse(parseJson(answer.body));
  if (!parsed.success) throw new NotReadyError(`${url.href}: unexpected answer`);
  return parsed.data;
}

/** The credentials a node presents on every supervisor request. `password` fields are secrets. */
export interface NodeCredentials {
  readonly token: JoinToken;
  readonly nodeName: string;
  readonly nodePassword: string;
}

/**
 * Registers this node with the server. A refused token is fatal (the
 * process exits 1 and systemd restarts it); a node-password conflict or an
 * unreachable server is a NotReadyError (k3s keeps waiting).
 */
export async function registerNode(
  server: URL,
  ca: string,
  credentials: NodeCredentials,
  registration: Registration,
): Promise<void> {
  const url = new URL(PATHS.register, server);
  const answer = await reach(() =>
    httpsRequest(url, {
      method: "POST",
      ca,
      headers: { ...nodeHeaders(credentials), "content-type": "application/json" },
      body: JSON.stringify(registration),
    }),
  );
  refuseBadToken(url, answer);
  if (answer.status === 403 && answer.body.includes("Node password rejected"))
    throw new NotReadyError(NODE_PASSWORD_REJECTED);
  if (answer.status === 403) {
    throw new FatalError(
      `failed to register node ${credentials.nodeName}: ${url.href}: 403 Forbidden (a server must join with the server token)`,
    );
  }
  if (answer.status !== 200) throw new NotReadyError(`${url.href}: ${answer.status} ${answer.body.trim()}`);
}

/** One heartbeat with this node's status; resolves with the HTTP status (200 ok, 404 the Node was deleted, ...). */
export async function sendHeartbeat(
  server: URL,
  ca: string,
  credentials: NodeCredentials,
  status: NodeStatus,
): Promise<number> {
  const answer = await reach(() =>
    httpsRequest(new URL(PATHS.heartbeat, server), {
      method: "POST",
      ca,
      headers: { ...nodeHeaders(credentials), "content-type": "application/json" },
      body: JSON.stringify({ status }),
    }),
  );
  return answer.status;
}

function nodeHeaders(credentials: NodeCredentials): Record<string, string> {
  return {
    authorization: basic(credentials.token),
    [NODE_NAME_HEADER]: credentials.nodeName,
    [NODE_PASSWORD_HEADER]: credentials.nodePassword,
  };
}

function basic(token: JoinToken): string {
  return `Basic ${Buffer.from(`${token.username}:${token.password}`).toString("base64")}`;
}

function refuseBadToken(url: URL, answer: HttpsResponse): void {
  if (answer.status === 401)
    throw new FatalError(`failed to validate token: token is not valid: ${url.href}: 401 Unauthorized`);
}

async function reach(send: () => Promise<HttpsResponse>): Promise<HttpsResponse> {
  try {
    return await send();
  } catch (error) {
    if (error instanceof ConnectionError) throw new NotReadyError(error.message);
    throw error;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
