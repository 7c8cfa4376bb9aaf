// Entry of the agent executable. esbuild bundles it to CommonJS for a Node
// single executable application: no top-level await and no import.meta here.
import { main } from "./cli.js";

void main(process.argv).then((code) => {
  process.exitCode = code;
});
