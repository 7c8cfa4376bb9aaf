// Entry of the agent executable (bundled to CommonJS for a Node SEA: no top-level await here).
import { main } from "./cli.js";

void main(process.argv).then((code) => {
  process.exitCode = code;
});
