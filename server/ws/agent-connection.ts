import type { WebSocket, RawData } from "ws";
import { GroundcrewError, type ErrorCode } from "../../shared/errors.js";
import {
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
  type AgentMessage,
  type EventEnvelope,
  type Handlers,
  type Plan,
  type ServerMessage,
} from "../../shared/protocol.js";
import { terminalSafe } from "../../shared/terminal-safe.js";
import type { CommitLane, GroupCommit, Settled } from "./group-commit.js";
import type { PeerIdentity } from "./peer-identity.js";

export type Hello = Extract<AgentMessage, { type: "hello" }>;
export type RejectCode = Extract<ServerMessage, { type: "reject" }>["code"];

/** What `onHello` decides: welcome the agent to its plan (resending after `ackedSeq`), or refuse it. */
export type HelloDecision =
  | { readonly plan: Plan; readonly ackedSeq: number }
  | { readonly reject: RejectCode; readonly message: string };

export const CLOSE = {
  goingAway: 1001,
  invalidData: 1007,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  tryAgainLater: 1013,
} as const;

/** Strict UTF-8: a malformed sequence is an error, never a silent U+FFFD. The BOM is kept, so JSON refuses it. */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export interface ConnectionDeps {
  /** Where this connection's events are committed, in groups shared with the other connections. */
  readonly commits: GroupCommit;
  readonly onHello: (host: string, hello: Hello) => HelloDecision;
  /** Each newly committed event (not resends), after the commit and the ack covering it, in seq order. */
  readonly onEvent: (envelope: EventEnvelope) => void;
  readonly report: (error: GroundcrewError) => void;
  readonly now: () => number;
  /** How long a closing socket may take to finish the close handshake before it is destroyed. */
  readonly closeGraceMs: number;
}

/**
 * One agent's WebSocket, bound to the host its certificate names. States:
 * awaiting-hello → welcomed → closing. In "closing" every frame is ignored,
 * and events queued but not yet committed are dropped, so nothing more is
 * journaled or acked once the server decided to drop it.
 *
 * Contract: each event frame is checked on arrival (identity, run, seq
 * order) and its event queued on the GroupCommit; it is acked only after
 * the group transaction holding it returned, and the ack is cumulative
 * (`committed`: every seq ≤ it is in the journal), because events are
 * accepted only contiguously from the welcome's ackedSeq. One ack per
 * committed group, with the highest seq; new events then go to `onEvent` in
 * order. A frame that breaks the protocol first gets the events queued
 * before it committed and acked (`settleNow`), then drops the connection,
 * just as when each event was committed on arrival.
 *
 * When the journal cannot take writes for now (a stall: disk full, I/O
 * error), the connection stays open and keeps answering pings, so the agent
 * is neither lost nor redialing in a loop. It holds its first refused event,
 * acks nothing, and ignores the events that follow (they stay in the agent's
 * outbox: nothing is buffered here). The GroupCommit retries the held event
 * every ping interval until it commits; it is then acked, and if events were
 * ignored meanwhile the connection is closed with 1013 (try again later): the
 * agent redials with backoff and resends everything after the welcome's
 * ackedSeq, which the journal takes in order, exactly once. If nothing was
 * ignored the session simply goes on.
 */
export class AgentConnection implements CommitLane {
  readonly host: string;
  readonly serial: string;
  readonly remote: string;
  readonly openedAt: number;
  #lastHeard: number;
  #state: "awaiting-hello" | "welcomed" | "closing" = "awaiting-hello";
  #runId = "";
  /** Highest seq the journal committed for this connection (every seq ≤ it is in the journal). */
  #committed = 0;
  /** Highest seq committed or queued: the next new event must be this + 1. */
  #accepted = 0;
  /** The event the journal refused with a stall, until it commits. */
  #held: EventEnvelope | undefined;
  /** Events not committed while one was held; they make the agent resend after a redial. */
  #ignored = 0;
  /** Bytes of the frame being handled. */
  #frameBytes = 0;
  #killTimer: NodeJS.Timeout | undefined;

  readonly #handlers: Handlers<AgentMessage> = {
    hello: (message) => {
      this.#hello(message);
    },
    event: (message) => {
      this.#event(message.envelope);
    },
  };

  constructor(
    private readonly ws: WebSocket,
    peer: PeerIdentity,
    private readonly deps: ConnectionDeps,
    onClose: (connection: AgentConnection) => void,
  ) {
    this.host = peer.host;
    this.serial = peer.serial;
    this.remote = peer.remote;
    this.openedAt = deps.now();
    this.#lastHeard = this.openedAt;
    const heard = (): void => {
      this.#lastHeard = deps.now();
    };
    ws.on("pong", heard);
    ws.on("ping", heard);
    ws.on("message", (data, isBinary) => {
      heard();
      this.#frame(data, isBinary);
    });
    // ws closes the socket itself (1009 oversize, 1007 invalid UTF-8, 1002 bad framing) and tells us here.
    ws.on("error", (error) => {
      deps.commits.settleNow(this);
      this.#state = "closing";
      this.#violation("AGENT_PROTOCOL_VIOLATION", `invalid frame: ${error.message}`);
    });
    ws.on("close", () => {
      clearTimeout(this.#killTimer);
      this.#state = "closing";
      onClose(this);
    });
  }

  get welcomed(): boolean {
    return this.#state === "welcomed";
  }

  get closing(): boolean {
    return this.#state === "closing";
  }

  get lastHeard(): number {
    return this.#lastHeard;
  }

  /** See CommitLane.accepting. */
  get accepting(): boolean {
    return this.#state === "welcomed" && this.#held === undefined;
  }

  /** See CommitLane.held. */
  get held(): EventEnvelope | undefined {
    return this.#state === "welcomed" ? this.#held : undefined;
  }

  /** The run this connection was welcomed to ("" before the welcome). */
  get runId(): string {
    return this.#runId;
  }

  ping(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  /** Sends `reject` and closes (1008). Frames that arrive afterwards are ignored. */
  reject(code: RejectCode, message: string): void {
    if (this.#state === "closing") return;
    this.#send({ type: "reject", code, message });
    this.close(CLOSE.policy, code);
  }

  /** Starts the close handshake; destroys the socket if it has not finished within the grace period. */
  close(code: number, reason: string): void {
    this.#state = "closing";
    if (this.#killTimer !== undefined) return;
    this.ws.close(code, reason.slice(0, 120));
    this.#killTimer = setTimeout(() => {
      this.ws.terminate();
    }, this.deps.closeGraceMs);
    this.#killTimer.unref();
  }

  /** Destroys the socket at once, without a close handshake (a peer gone silent). */
  terminate(): void {
    this.#state = "closing";
    this.ws.terminate();
  }

  #frame(data: RawData, isBinary: boolean): void {
    if (this.#state === "closing") return;
    if (isBinary) {
      this.#drop(CLOSE.policy, "binary frames are not part of the protocol");
      return;
    }
    const bytes = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data);
    this.#frameBytes = bytes.length;
    if (bytes.length > MAX_FRAME_BYTES) {
      this.#drop(CLOSE.tooBig, `frame of ${bytes.length} bytes is over ${MAX_FRAME_BYTES}`);
      return;
    }
    // ws already closes on invalid UTF-8 (1007); decoding strictly here keeps that a decision of this class.
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      this.#drop(CLOSE.invalidData, "frame is not valid UTF-8");
      return;
    }
    const parsed = parseAgentMessage(text);
    if (!parsed.ok) {
      this.#drop(CLOSE.policy, parsed.error);
      return;
    }
    dispatch(this.#handlers, parsed.value);
  }

  #hello(hello: Hello): void {
    if (this.#state !== "awaiting-hello") {
      this.#drop(CLOSE.policy, "a second hello on one connection");
      return;
    }
    if (hello.protocol !== PROTOCOL_VERSION) {
      this.#violation(
        "AGENT_PROTOCOL_VIOLATION",
        `agent speaks protocol ${hello.protocol}, not ${PROTOCOL_VERSION}`,
      );
      this.reject("PROTOCOL_MISMATCH", `this provisioner speaks protocol ${PROTOCOL_VERSION}`);
      return;
    }
    if (hello.host !== this.host) {
      this.#violation("AGENT_PROTOCOL_VIOLATION", `hello claims host ${quoted(hello.host)}`);
      this.reject("HOST_MISMATCH", "hello names another host than the certificate");
      return;
    }
    let decision: HelloDecision;
    try {
      decision = this.deps.onHello(this.host, hello);
    } catch (cause) {
      this.#failed("onHello failed", cause);
      return;
    }
    if ("reject" in decision) {
      this.reject(decision.reject, decision.message);
      return;
    }
    const { plan, ackedSeq } = decision;
    if (
      plan.runId !== hello.runId ||
      plan.host !== this.host ||
      !Number.isSafeInteger(ackedSeq) ||
      ackedSeq < 0
    ) {
      this.#failed(`onHello returned a plan for ${plan.runId}/${plan.host} or a bad ackedSeq`, undefined);
      return;
    }
    this.#runId = hello.runId;
    this.#committed = ackedSeq;
    this.#accepted = ackedSeq;
    this.#state = "welcomed";
    this.#send({ type: "welcome", protocol: PROTOCOL_VERSION, ackedSeq, plan });
  }

  #event(envelope: EventEnvelope): void {
    if (this.#state !== "welcomed") {
      this.#drop(CLOSE.policy, "event before hello");
      return;
    }
    if (envelope.host !== this.host) {
      this.#drop(CLOSE.policy, `event about host ${quoted(envelope.host)} from another host's certificate`);
      return;
    }
    if (envelope.runId !== this.#runId) {
      this.#drop(CLOSE.policy, `event of run ${envelope.runId} on a connection of run ${this.#runId}`);
      return;
    }
    if (this.#held !== undefined) {
      // Stalled: this event waits in the agent's outbox; see hold.
      this.#ignored += 1;
      return;
    }
    if (envelope.seq > this.#accepted + 1) {
      this.#drop(CLOSE.policy, `seq gap: got ${envelope.seq} after ${this.#accepted}`);
      return;
    }
    this.#accepted = Math.max(this.#accepted, envelope.seq);
    this.deps.commits.enqueue(this, envelope, this.#frameBytes);
  }

  /**
   * See CommitLane.settle: acks the highest committed seq, passes the new
   * events on, then drops the connection if the journal refused one of them
   * (what follows a refused event was skipped, not committed). After a retry
   * the held event is done with; if events were ignored meanwhile the
   * connection closes with 1013 so the agent resends them.
   */
  settle(settled: readonly Settled[], retried: boolean): void {
    if (retried) this.#held = undefined;
    const inserted: EventEnvelope[] = [];
    let acked = false;
    let refusal: { readonly seq: number; readonly code: ErrorCode } | undefined;
    for (const { envelope, result } of settled) {
      if (result === "skipped") continue;
      if (typeof result === "object") {
        refusal = { seq: envelope.seq, code: result.refused.code };
        break;
      }
      this.#committed = Math.max(this.#committed, envelope.seq);
      acked = true;
      if (result === "inserted") inserted.push(envelope);
    }
    if (retried) this.#accepted = this.#committed;
    if (acked) this.#send({ type: "ack", runId: this.#runId, seq: this.#committed });
    for (const envelope of inserted) {
      try {
        this.deps.onEvent(envelope);
      } catch (cause) {
        this.deps.report(this.#error("AGENT_CALLBACK_FAILED", "onEvent failed", cause));
      }
    }
    if (refusal !== undefined) {
      this.#dropNow(CLOSE.policy, `journal refused seq ${refusal.seq}: ${refusal.code}`);
    } else if (retried && this.#ignored > 0 && this.#state === "welcomed") {
      this.#ignored = 0;
      this.close(CLOSE.tryAgainLater, "journal writable again; resend from the last ack");
    }
  }

  /** See CommitLane.hold. */
  hold(first: EventEnvelope, ignored: number): void {
    this.#held = first;
    this.#ignored += ignored;
  }

  /** See CommitLane.fail: nothing was committed nor acked; the agent resends after reconnecting. */
  fail(firstSeq: number, error: unknown): void {
    this.#held = undefined;
    if (this.#state === "closing") return;
    this.#violation("AGENT_JOURNAL_FAILED", `seq ${firstSeq} not committed; nothing acked`, error, true);
    this.close(CLOSE.internal, "journal unavailable");
  }

  #send(message: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  /**
   * Protocol violation: the events queued before it are committed and acked
   * first (as if each had been committed on arrival; the journal may refuse
   * one of them and drop the connection for that), then it is reported and
   * this connection only is closed.
   */
  #drop(code: number, reason: string): void {
    this.deps.commits.settleNow(this);
    if (this.#state === "closing") return;
    this.#dropNow(code, reason);
  }

  #dropNow(code: number, reason: string): void {
    this.#violation("AGENT_PROTOCOL_VIOLATION", reason);
    this.close(code, reason);
  }

  #failed(reason: string, cause: unknown): void {
    this.deps.report(this.#error("AGENT_CALLBACK_FAILED", reason, cause));
    this.close(CLOSE.internal, "provisioner error");
  }

  #violation(code: ErrorCode, reason: string, cause?: unknown, retryable = false): void {
    this.deps.report(this.#error(code, reason, cause, retryable));
  }

  #error(code: ErrorCode, reason: string, cause?: unknown, retryable = false): GroundcrewError {
    return new GroundcrewError(code, `${this.host} (${this.remote}): ${reason}`, {
      cause,
      retryable,
      context: { host: this.host, remote: this.remote, serial: this.serial },
    });
  }
}

/** Calls the handler for a message's type. The map is exhaustive; the cast only joins the union back up. */
function dispatch<M extends { type: string }>(handlers: Handlers<M>, message: M): void {
  const handler = handlers[message.type as M["type"]] as (message: M) => void;
  handler(message);
}

/** A peer's text quoted for a report: JSON quotes, every control character escaped (DEL and C1 too). */
function quoted(text: string): string {
  return terminalSafe(JSON.stringify(text));
}
