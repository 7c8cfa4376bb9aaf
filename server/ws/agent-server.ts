import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { WebSocketServer } from "ws";
import { GroundcrewError } from "../../shared/errors.js";
import { MAX_FRAME_BYTES, type EventEnvelope } from "../../shared/protocol.js";
import type { Hello, HelloDecision } from "./agent-connection.js";
import { AgentHub } from "./agent-hub.js";
import type { JournalOutageNotice } from "./journal-outage.js";
import type { JournalSink } from "./journal-sink.js";
import { checkPeer, type PeerPolicy } from "./peer-identity.js";
import { ARTIFACT_ROUTE, serveArtifact, type ArtifactLookup } from "./artifact-route.js";
import { refuseUpgrade } from "./upgrade-refusal.js";
import { silentLogger, type Logger } from "../log/logger.js";

export type { Hello, HelloDecision } from "./agent-connection.js";

/** The only path agents connect to. */
export const AGENT_PATH = "/agent";
/** Default `deadlineMs`: an agent silent for longer is dropped and reported lost. */
export const DEFAULT_DEADLINE_MS = 15_000;

export interface AgentServerOptions {
  /** Address to bind (an agent-reachable address in production, 127.0.0.1 in tests). */
  readonly host: string;
  /** 0 picks a free port; see `address()`. */
  readonly port: number;
  /** Server certificate and key (secret), and the CA that issued the agents' certificates. */
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string };
  /** The hosts allowed to connect: a certificate's CN must be one of them. */
  readonly hosts: ReadonlySet<string> | ((host: string) => boolean);
  /** Revocation check by serial (e.g. `pki.isRevoked`), consulted on every upgrade. */
  readonly isRevoked?: (serialHex: string) => boolean;
  /** Largest frame accepted; larger ones close the connection with 1009. Default MAX_FRAME_BYTES. */
  readonly maxPayload?: number;
  /** How often each agent is pinged. Default 5000. */
  readonly pingIntervalMs?: number;
  /** An agent silent (no frame, no pong) for longer than this is terminated and reported lost. Default 15000. */
  readonly deadlineMs?: number;
  readonly sink: JournalSink;
  /**
   * Decides what a host that said hello gets. Synchronous; it must not throw
   * (a throw closes that connection with 1011 and is reported). The returned
   * plan must be for the hello's run and host.
   */
  readonly onHello: (host: string, hello: Hello) => HelloDecision;
  /**
   * Each newly committed event (not resends), after its ack was sent: the
   * frames of one event-loop turn are committed together (see GroupCommit),
   * then each host's new events are passed on in seq order.
   */
  readonly onEvent?: (envelope: EventEnvelope) => void;
  /** A welcomed host went silent past the deadline; its connection was terminated. */
  readonly onHostLost?: (host: string) => void;
  /** A welcomed host's connection ended, for whatever reason (after `onHostLost` when lost). */
  readonly onHostDisconnected?: (host: string) => void;
  /** Refused connections, protocol violations, duplicates, journal and callback failures. Never carries key material. */
  readonly onAgentError?: (error: GroundcrewError) => void;
  /**
   * The journal stopped taking writes (disk full, I/O error) or takes them
   * again: once each per outage, however many frames fail. Meanwhile nothing
   * is acked, connections stay open, and the held events are retried every
   * ping interval (see AgentConnection). Without this callback a "stalled"
   * notice goes to `onAgentError` as AGENT_JOURNAL_FAILED.
   */
  readonly onJournalOutage?: (notice: JournalOutageNotice) => void;
  /**
   * Diagnostics: agents connected, welcomed, refused (hello and TLS, with
   * their codes), lost and disconnected, and every error `onAgentError` gets.
   * Default: none.
   */
  readonly log?: Logger;
  /** Clock for liveness, in ms. Default Date.now. */
  readonly now?: () => number;
  /**
   * Artifacts hosts may fetch from the provisioner over this server
   * (GET /cas/sha256/<hex>, same mutual TLS and peer checks as /agent): the
   * direct-delivery fallback when there is no depot or it is down.
   */
  readonly artifacts?: ArtifactLookup;
}

/**
 * The provisioner's end of the agent channel. It owns the TLS server (mutual
 * TLS against our CA) and creates a WebSocket only for an upgrade on
 * /agent whose verified certificate maps to a known, unrevoked host:
 * everything else gets 401/403/404 and no WebSocket. Identity comes from the
 * certificate, never from a message. One live connection per host; a
 * misbehaving connection is dropped without disturbing the others (the
 * connections themselves are an AgentHub's).
 */
export class AgentServer {
  readonly #https: Server;
  readonly #wss: WebSocketServer;
  readonly #policy: PeerPolicy;
  readonly #pingIntervalMs: number;
  readonly #deadlineMs: number;
  readonly #hub: AgentHub;
  readonly #log: Logger;
  readonly #sockets = new Set<Socket>();
  #ticker: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;
  #artifactBytes = 0;

  private constructor(private readonly options: AgentServerOptions) {
    this.#pingIntervalMs = options.pingIntervalMs ?? 5000;
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const log = options.log ?? silentLogger;
    this.#log = log;
    this.#hub = new AgentHub({
      sink: options.sink,
      onHello: (host, hello) => {
        const decision = options.onHello(host, hello);
        if ("reject" in decision) {
          log.warn(
            { host, runId: hello.runId, reject: decision.reject },
            `agent refused: ${decision.message}`,
          );
        } else {
          log.info({ host, runId: hello.runId, ackedSeq: decision.ackedSeq }, "agent welcomed");
        }
        return decision;
      },
      onEvent: (envelope) => options.onEvent?.(envelope),
      onHostLost: (host) => {
        log.warn({ host, deadlineMs: this.#deadlineMs }, "agent lost: silent past the deadline");
        options.onHostLost?.(host);
      },
      onHostDisconnected: (host) => {
        log.info({ host }, "agent disconnected");
        options.onHostDisconnected?.(host);
      },
      report: (error) => {
        this.#report(error);
      },
      ...(options.onJournalOutage === undefined ? {} : { onJournalOutage: options.onJournalOutage }),
      now: options.now ?? Date.now,
      deadlineMs: this.#deadlineMs,
      closeGraceMs: this.#closeGraceMs(),
    });
    const hosts = options.hosts;
    this.#policy = {
      isKnownHost: typeof hosts === "function" ? hosts : (host) => hosts.has(host),
      isRevoked: options.isRevoked ?? (() => false),
    };
    this.#https = createServer({
      cert: options.tls.cert,
      key: options.tls.key,
      ca: [options.tls.ca],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      // Nobody gets to hold a socket open without finishing the TLS handshake or the upgrade request.
      handshakeTimeout: this.#deadlineMs,
      headersTimeout: this.#deadlineMs,
      requestTimeout: this.#deadlineMs,
    });
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayload ?? MAX_FRAME_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.#https.on("connection", (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
    this.#https.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#upgrade(request, socket, head);
    });
    this.#https.on("request", (request: IncomingMessage, response: ServerResponse) => {
      this.#request(request, response);
    });
    // With rejectUnauthorized, Node destroys a socket whose certificate fails
    // verification right after the handshake; the reason is on the socket.
    this.#https.on("tlsClientError", (error: Error, socket: TLSSocket) => {
      const verifyError: unknown = socket.authorizationError;
      const reason =
        typeof verifyError === "string" ? `client certificate refused: ${verifyError}` : error.message;
      this.#report(
        new GroundcrewError("AGENT_TLS_REFUSED", `TLS handshake refused: ${reason}`, {
          cause: error,
          context: { remote: `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}` },
        }),
      );
    });
  }

  /** Starts listening. Rejects when the address cannot be bound. */
  static async listen(options: AgentServerOptions): Promise<AgentServer> {
    const server = new AgentServer(options);
    await new Promise<void>((resolve, reject) => {
      server.#https.once("error", reject);
      server.#https.listen(options.port, options.host, () => {
        server.#https.off("error", reject);
        resolve();
      });
    });
    server.#ticker = setInterval(() => {
      server.#hub.tick();
    }, server.#pingIntervalMs);
    server.#ticker.unref();
    return server;
  }

  /** The bound address and port. */
  address(): { host: string; port: number } {
    const address = this.#https.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  /** Hosts with a live connection (welcomed or not yet). */
  liveHosts(): string[] {
    return this.#hub.liveHosts();
  }

  /**
   * Cuts `host`'s live session now: from this call on none of its frames is
   * journaled or acked; it gets `reject REVOKED` and its socket is closed
   * (destroyed after a short grace). Call `pki.revoke(host)` first so it
   * cannot come back. Returns whether there was a live session.
   */
  revokeLive(host: string): boolean {
    const live = this.#hub.revokeLive(host);
    this.#log.info({ host, live }, "agent session revoked");
    return live;
  }

  /** Stops listening, closes every agent connection (1001) and every socket; resolves when all are gone. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#shutDown();
    return this.#closed;
  }

  async #shutDown(): Promise<void> {
    clearInterval(this.#ticker);
    const stopped = new Promise<void>((resolve) => {
      this.#https.close(() => {
        resolve();
      });
    });
    await this.#hub.shutDown();
    this.#https.closeAllConnections();
    for (const socket of this.#sockets) socket.destroy();
    this.#wss.close();
    await stopped;
  }

  #closeGraceMs(): number {
    return Math.min(1000, this.#deadlineMs);
  }

  /** Body bytes of artifacts served to hosts so far. */
  get artifactBytesServed(): number {
    return this.#artifactBytes;
  }

  #request(request: IncomingMessage, response: ServerResponse): void {
    const lookup = this.options.artifacts;
    const path = new URL(request.url ?? "/", "https://agent.invalid").pathname;
    if (lookup === undefined || !ARTIFACT_ROUTE.test(path) || !(request.socket instanceof TLSSocket)) {
      response.writeHead(426, { Connection: "close", Upgrade: "websocket" }).end();
      return;
    }
    let check: ReturnType<typeof checkPeer>;
    try {
      check = checkPeer(request.socket, this.#policy);
    } catch {
      response.writeHead(503).end();
      return;
    }
    if (!check.ok) {
      response.writeHead(check.status).end();
      return;
    }
    void serveArtifact(request, response, check.peer.host, lookup, (bytes) => {
      this.#artifactBytes += bytes;
    });
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closed !== undefined) {
      refuseUpgrade(socket, 503);
      return;
    }
    if (!(socket instanceof TLSSocket)) {
      refuseUpgrade(socket, 400);
      return;
    }
    if (new URL(request.url ?? "/", "https://agent.invalid").pathname !== AGENT_PATH) {
      refuseUpgrade(socket, 404);
      return;
    }
    let check: ReturnType<typeof checkPeer>;
    try {
      check = checkPeer(socket, this.#policy);
    } catch (cause) {
      this.#report(
        new GroundcrewError("AGENT_CALLBACK_FAILED", "the hosts or isRevoked callback threw", { cause }),
      );
      refuseUpgrade(socket, 503);
      return;
    }
    if (!check.ok) {
      this.#report(
        new GroundcrewError("AGENT_TLS_REFUSED", `${check.host ?? check.remote}: ${check.reason}`, {
          context: {
            remote: check.remote,
            status: check.status,
            ...(check.host === undefined ? {} : { host: check.host }),
          },
        }),
      );
      refuseUpgrade(socket, check.status);
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      this.#log.debug(
        { host: check.peer.host, remote: check.peer.remote, serial: check.peer.serial },
        "agent connected",
      );
      this.#hub.accept(ws, check.peer);
    });
  }

  #report(error: GroundcrewError): void {
    const host = error.context["host"];
    this.#log.warn(
      { ...(typeof host === "string" ? { host } : {}), code: error.code, context: error.context },
      error.message,
    );
    try {
      this.options.onAgentError?.(error);
    } catch {
      // A failing reporter must not take the server down with it.
    }
  }
}
