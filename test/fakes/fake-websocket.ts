import { EventEmitter } from "node:events";
import type { WebSocket } from "ws";
import { parseServerMessage, type ServerMessage } from "../../shared/protocol.js";

const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * The server side of one agent WebSocket, without a socket: a test pushes
 * frames in with `receive` (as ws emits "message") and reads back what the
 * server sent and how it closed. Covers exactly what AgentConnection uses:
 * `on`, `readyState`/`OPEN`, `send`, `close`, `terminate`, `ping`.
 */
export class FakeWebSocket extends EventEmitter {
  readonly OPEN = OPEN;
  readyState: number = OPEN;
  readonly sent: ServerMessage[] = [];
  /** The first close the server asked for; undefined while open. */
  closedWith: { readonly code: number; readonly reason: string } | undefined;
  terminated = false;

  /** The fake as the ws type AgentConnection takes; the fake implements only what that class calls. */
  get socket(): WebSocket {
    return this as unknown as WebSocket;
  }

  send(data: string): void {
    const parsed = parseServerMessage(data);
    if (!parsed.ok) throw new Error(`the server sent an invalid message: ${parsed.error}`);
    this.sent.push(parsed.value);
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
    this.readyState = CLOSING;
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = CLOSED;
  }

  ping(): void {
    // Liveness is not what these tests look at.
  }

  /** One frame from the agent, as ws delivers it. */
  receive(frame: string | Uint8Array, isBinary = false): void {
    this.emit("message", Buffer.from(frame), isBinary);
  }

  /** What ws does on a frame it refuses itself (invalid UTF-8, over maxPayload): "error", then "close". */
  failFrame(message: string): void {
    this.emit("error", new Error(message));
    this.readyState = CLOSED;
    this.emit("close", 1007, Buffer.from(""));
  }

  of<T extends ServerMessage["type"]>(type: T): Extract<ServerMessage, { type: T }>[] {
    return this.sent.filter(
      (message): message is Extract<ServerMessage, { type: T }> => message.type === type,
    );
  }
}
