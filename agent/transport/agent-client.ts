import WebSocket from "ws";
import { GroundcrewError } from "../../shared/errors.js";
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseServerMessage,
  type EventEnvelope,
  type Handlers,
  type ServerMessage,
} from "../../shared/protocol.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { realSchedule, type Schedule, type Timer } from "./timers.js";

export type Welcome = Extract<ServerMessage, { type: "welcome" }>;
export type RejectCode = Extract<ServerMessage, { type: "reject" }>["code"];

/**
 * Lifecycle: connecting → awaiting-welcome → welcomed → (connection ends) →
 * waiting (backoff) → connecting ... ; "stopped" after `close()` or a final reject.
 */
export type AgentClientState =
  "idle" | "connecting" | "awaiting-welcome" | "welcomed" | "waiting" | "stopped";

export interface AgentClientOptions {
  /** wss://<provisioner>:<port>/agent. The host part is checked against the server certificate's SANs. */
  readonly url: string;
  /** This host's certificate and key (secret: never logged), and our CA, the only one trusted. */
  readonly tls: {
    readonly cert: string;
    readonly key: string;
    readonly ca: string;
    readonly servername?: string;
  };
  readonly identity: { readonly host: string; readonly runId: string; readonly agentVersion: string };
  /** How often the server is pinged. Default 5000. */
  readonly pingIntervalMs?: number;
  /** A server silent (no frame, no pong) for longer than this is dropped and redialed. Default 15000. */
  readonly deadlineMs?: number;
  /**
   * How long `reject DUPLICATE_AGENT` is retried, with backoff, before it is
   * final. The provisioner refuses a second connection for a host while the
   * first one still counts as live, and after a crash, a reboot or a path
   * that died silently, the first one is this agent's own dead connection,
   * which the provisioner drops only once it is silent past its deadline.
   * Default 4 × deadlineMs (the provisioner's deadline is the same by default).
   */
  readonly duplicateRetryMs?: number;
  readonly backoff?: BackoffOptions;
  /** [0, 1), for the jitter. Default Math.random. */
  readonly random?: () => number;
  /** Clock for liveness, in ms. Default Date.now. */
  readonly now?: () => number;
  /** Timer source for pings and backoff waits. Default setTimeout. */
  readonly schedule?: Schedule;
  /**
   * Opens one WebSocket (default `new WebSocket(url, options)`). A test hands
   * in a simulated socket that behaves as ws does: events are emitted
   * asynchronously, never from inside this call.
   */
  readonly openSocket?: (url: string, options: WebSocket.ClientOptions) => WebSocket;
  /** The server accepted this agent. Resend everything after `welcome.ackedSeq` (`send` works from here). */
  readonly onWelcome: (welcome: Welcome) => void;
  /** Every event with seq ≤ `seq` is committed on the provisioner; the outbox may delete them. */
  readonly onAck: (seq: number) => void;
  /** A final refusal of this identity or run (see `duplicateRetryMs`); the client has stopped and does not redial. */
  readonly onReject: (code: RejectCode, message: string) => void;
  /** A connection that had opened ended; the client redials unless stopped. Unacked events must be resent. */
  readonly onDisconnect: (info: { readonly code: number; readonly reason: string }) => void;
  /** Connection failures and invalid server frames, for logs (AGENT_CONNECTION_FAILED, retryable). */
  readonly onError?: (error: GroundcrewError) => void;
}

/**
 * The agent's end of the channel: mutual TLS to the provisioner, `hello`,
 * then events out and acks in. It buffers nothing: `send` writes to the live
 * socket or returns false, and the on-disk outbox resends from
 * `welcome.ackedSeq` after every reconnect. Reconnects use exponential
 * backoff with full jitter (the count resets on each welcome); a ping/pong
 * deadline catches silent drops. A `reject` stops it for good (what happens
 * next is the agent's decision), except that DUPLICATE_AGENT is redialed
 * with backoff until `duplicateRetryMs` has passed since the first of a row
 * of them (a welcome ends the row): a restarted agent outlasts its own dead
 * connection, a clone of a live agent still gives up. Callbacks run on
 * socket events and must not throw.
 */
export class AgentClient {
  #state: AgentClientState = "idle";
  #ws: WebSocket | undefined;
  #attempt = 0;
  #lastHeard = 0;
  /** When the current row of DUPLICATE_AGENT refusals began. */
  #duplicateSince: number | undefined;
  #timer: Timer | undefined;
  readonly #schedule: Schedule;
  readonly #now: () => number;
  readonly #handlers: Handlers<ServerMessage> = {
    welcome: (message) => {
      this.#welcome(message);
    },
    ack: (message) => {
      if (this.#state !== "welcomed" || message.runId !== this.options.identity.runId) {
        this.#broken(`unexpected ack for run ${message.runId}`);
        return;
      }
      this.options.onAck(message.seq);
    },
    reject: (message) => {
      if (message.code === "DUPLICATE_AGENT" && this.#retryDuplicate()) {
        this.#report(
          "refused as a duplicate of a live connection; redialing in case that is our own dead one",
        );
        this.#ws?.terminate();
        return;
      }
      this.#stop();
      this.options.onReject(message.code, message.message);
    },
  };

  constructor(private readonly options: AgentClientOptions) {
    this.#schedule = options.schedule ?? realSchedule;
    this.#now = options.now ?? Date.now;
  }

  get state(): AgentClientState {
    return this.#state;
  }

  /** Dials the provisioner (once; later dials are the client's own). */
  start(): void {
    if (this.#state === "idle") this.#connect();
  }

  /**
   * Sends one event if the session is welcomed; returns false otherwise
   * (nothing is queued: the outbox resends after the next welcome). Safe to
   * call in any state.
   */
  send(envelope: EventEnvelope): boolean {
    const ws = this.#ws;
    if (this.#state !== "welcomed" || ws?.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ type: "event", envelope }));
    return true;
  }

  /** Stops for good: no redial; the socket is closed (destroyed if the server does not answer within 1 s). */
  async close(): Promise<void> {
    const ws = this.#ws;
    this.#stop();
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => {
        ws.terminate();
      }, 1000);
      ws.once("close", () => {
        clearTimeout(kill);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, "agent stopping");
    });
  }

  #connect(): void {
    this.#state = "connecting";
    const { tls } = this.options;
    const open = this.options.openSocket ?? ((url, options) => new WebSocket(url, options));
    const ws = open(this.options.url, {
      cert: tls.cert,
      key: tls.key,
      ca: [tls.ca],
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: this.options.deadlineMs ?? 15_000,
    });
    this.#ws = ws;
    let opened = false;
    const heard = (): void => {
      this.#lastHeard = this.#now();
    };
    ws.on("open", () => {
      opened = true;
      heard();
      this.#state = "awaiting-welcome";
      const { host, runId, agentVersion } = this.options.identity;
      ws.send(JSON.stringify({ type: "hello", protocol: PROTOCOL_VERSION, agentVersion, host, runId }));
      this.#scheduleLiveness();
    });
    ws.on("pong", heard);
    ws.on("ping", heard);
    ws.on("message", (data, isBinary) => {
      heard();
      if (this.#ws !== ws || this.#state === "stopped") return;
      const text = isBinary
        ? undefined
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.isBuffer(data)
            ? data
            : Buffer.from(data);
      const parsed = text === undefined ? undefined : parseServerMessage(text.toString("utf8"));
      if (parsed?.ok !== true) {
        this.#broken(parsed === undefined ? "binary frame from server" : parsed.error);
        return;
      }
      dispatch(this.#handlers, parsed.value);
    });
    ws.on("error", (error) => {
      this.#report(`connection to ${this.options.url} failed: ${error.message}`, error);
    });
    ws.on("close", (code, reason) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#timer?.cancel();
      this.#timer = undefined;
      if (this.#state !== "stopped") this.#waitAndRedial();
      if (opened) this.options.onDisconnect({ code, reason: reason.toString("utf8") });
    });
  }

  #welcome(welcome: Welcome): void {
    const { host, runId } = this.options.identity;
    if (this.#state !== "awaiting-welcome") {
      this.#broken("a second welcome");
      return;
    }
    if (welcome.protocol !== PROTOCOL_VERSION || welcome.plan.runId !== runId || welcome.plan.host !== host) {
      this.#broken(`welcome for ${welcome.plan.runId}/${welcome.plan.host}, protocol ${welcome.protocol}`);
      return;
    }
    this.#state = "welcomed";
    this.#attempt = 0;
    this.#duplicateSince = undefined;
    this.options.onWelcome(welcome);
  }

  /** Every ping interval: drop a server silent past the deadline, else ping it. */
  #scheduleLiveness(): void {
    const interval = this.options.pingIntervalMs ?? 5000;
    const deadline = this.options.deadlineMs ?? 15_000;
    this.#timer = this.#schedule(() => {
      const ws = this.#ws;
      if (ws === undefined || this.#state === "stopped") return;
      if (this.#now() - this.#lastHeard > deadline) {
        this.#report(`the provisioner was silent for more than ${deadline} ms`);
        ws.terminate();
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.ping();
      this.#scheduleLiveness();
    }, interval);
  }

  /** Whether a DUPLICATE_AGENT refusal now is still within `duplicateRetryMs` of the first of its row. */
  #retryDuplicate(): boolean {
    const now = this.#now();
    this.#duplicateSince ??= now;
    const window = this.options.duplicateRetryMs ?? 4 * (this.options.deadlineMs ?? 15_000);
    return now - this.#duplicateSince < window;
  }

  #waitAndRedial(): void {
    this.#state = "waiting";
    const delay = backoffDelay(this.#attempt, this.options.random ?? Math.random, this.options.backoff);
    this.#attempt += 1;
    this.#timer = this.#schedule(() => {
      this.#timer = undefined;
      if (this.#state === "waiting") this.#connect();
    }, delay);
  }

  /** The server broke the protocol: report, drop the socket, redial with backoff. */
  #broken(reason: string): void {
    this.#report(`invalid message from the provisioner: ${reason}`);
    this.#ws?.terminate();
  }

  #stop(): void {
    this.#state = "stopped";
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #report(message: string, cause?: unknown): void {
    this.options.onError?.(
      new GroundcrewError("AGENT_CONNECTION_FAILED", message, {
        cause,
        retryable: true,
        context: { url: this.options.url, host: this.options.identity.host },
      }),
    );
  }
}

/** Calls the handler for a message's type. The map is exhaustive; the cast only joins the union back up. */
function dispatch<M extends { type: string }>(handlers: Handlers<M>, message: M): void {
  const handler = handlers[message.type as M["type"]] as (message: M) => void;
  handler(message);
}
