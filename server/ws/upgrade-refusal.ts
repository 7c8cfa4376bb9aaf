import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

/**
 * Answers an upgrade request with a bare HTTP error and closes the socket:
 * no WebSocket is ever created for it. The body says nothing about why
 * (the provisioner reports that through onAgentError instead).
 */
export function refuseUpgrade(socket: Duplex, status: 400 | 401 | 403 | 404 | 503): void {
  socket.on("error", () => {
    // The peer may already be gone; there is nothing left to tell it.
  });
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
  );
}
