// Entry of the agent executable (bundled to CommonJS for a Node SEA: no top-level await here).
import { main } from "./cli.js";

void main(process.argv).then((code) => {
  process.exitCode = code;
  // A finished command must not linger on a stray handle (a socket in its
  // close handshake): give output a moment to drain, then leave.
  setTimeout(() => process.exit(code), 2_000).unref();
});
