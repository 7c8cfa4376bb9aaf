import { EventEmitter } from "node:events";
import type { WebSocket } from "ws";

/** ws's readyState values. */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

export type Side = "agent" | "server";

export type Frame =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "ping" }
  | { readonly kind: "pong" }
  | { readonly kind: "close"; readonly code: number; readonly reason: string }
  /** The peer's socket is gone (FIN or RST): the receiving end closes with 1006. */
  | { readonly kind: "fin" };

/** What one end needs from the link that carries its connection. */
export interface SocketWire {
  /** Sends `frame` to the other end, through the link's faults. */
  send(frame: Frame): void;
  /** Runs `task` `ms` (virtual) from now. */
  later(ms: number, task: () => void): void;
  /** This end is closed or dead: the link forgets the connection once both ends are. */
  released(): void;
  /** After `close()`, the closing end reports "close" this much later (handshake done, or cut short). */
  readonly closeHandshakeMs: number;
}

/**
 * One end of a simulated WebSocket. Implements what AgentClient (agent end)
 * and AgentConnection (server end) use of ws: `on`/`once`, `readyState`
 * and `OPEN`, `send`, `ping`, `close`, `terminate`; it emits "open",
 * "message" (Buffer, isBinary), "ping"/"pong", "error" and "close" (code,
 * Buffer reason) as ws does, always from a clock task, never from inside a
 * call. Its link answers pings with pongs, as ws does.
 */
export class SimSocket extends EventEmitter {
  readonly OPEN = OPEN;
  readyState = CONNECTING;
  /** The process holding this end died: it emits nothing more. */
  dead = false;

  constructor(
    readonly side: Side,
    private readonly wire: SocketWire,
  ) {
    super();
  }

  /** The simulated socket as the ws type the product code takes; it implements only what that code calls. */
  get ws(): WebSocket {
    return this as unknown as WebSocket;
  }

  send(data: string): void {
    if (this.readyState === OPEN) this.wire.send({ kind: "text", text: data });
  }

  ping(): void {
    if (this.readyState === OPEN) this.wire.send({ kind: "ping" });
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState !== OPEN) {
      if (this.readyState === CONNECTING) this.terminate();
      return;
    }
    this.readyState = CLOSING;
    this.wire.send({ kind: "close", code, reason });
    this.wire.later(this.wire.closeHandshakeMs, () => {
      this.closed(code, reason);
    });
  }

  terminate(): void {
    if (this.readyState === CLOSED || this.dead) return;
    const connected = this.readyState !== CONNECTING;
    this.readyState = CLOSED;
    if (connected) this.wire.send({ kind: "fin" });
    this.wire.released();
    this.wire.later(0, () => {
      if (!this.dead) this.emit("close", 1006, Buffer.alloc(0));
    });
  }

  /** The dial went through: the agent end may send. */
  opened(): void {
    this.readyState = OPEN;
    this.emit("open");
  }

  /** The end's own socket is gone, with the code its peer (or ws) gives. */
  closed(code: number, reason: string): void {
    if (this.readyState === CLOSED || this.dead) return;
    this.readyState = CLOSED;
    this.wire.released();
    this.emit("close", code, Buffer.from(reason));
  }

  /** A dial that never connected: "error", then "close" 1006, as ws reports it. */
  failed(message: string): void {
    if (this.readyState !== CONNECTING || this.dead) return;
    this.readyState = CLOSED;
    this.wire.released();
    this.emit("error", new Error(message));
    this.emit("close", 1006, Buffer.alloc(0));
  }

  /** The process died: no more events, and the socket is gone. */
  die(): void {
    this.dead = true;
    this.readyState = CLOSED;
    this.wire.released();
  }
}
