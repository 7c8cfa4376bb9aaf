// Entry of the k3s test double's single executable (bundled to CommonJS for
// a Node SEA: no top-level await). Exits with main's status; a long-running
// `server`/`agent` resolves only once stopped by a signal.
import { main } from "./cli.js";

void main(process.argv).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 200).unref();
  },
  (error: unknown) => {
    process.stderr.write(
      `k3s test double: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(2);
  },
);
