#!/usr/bin/env node
import { isGroundcrewError } from "../../shared/errors.js";
import { terminalSafe } from "../../shared/terminal-safe.js";
import { processIo } from "./io.js";
import { createProgram } from "./program.js";

/** Error text may quote hosts (stderr, hostnames): escape control characters, keep line breaks. */
function printable(message: string): string {
  return message.split("\n").map(terminalSafe).join("\n");
}

// A closed pipe (`groundcrew logs | head`) ends the output, not the process with a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

createProgram(processIo)
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    if (isGroundcrewError(error)) {
      process.stderr.write(`groundcrew: ${printable(error.message)} [${error.code}]\n`);
    } else {
      process.stderr.write(
        `groundcrew: ${printable(error instanceof Error ? error.message : String(error))}\n`,
      );
    }
    process.exitCode = 1;
  });
