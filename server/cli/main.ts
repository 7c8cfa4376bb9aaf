#!/usr/bin/env node
import { errorText } from "./error-text.js";
import { processIo } from "./io.js";
import { createProgram } from "./program.js";

// A closed pipe (`groundcrew logs | head`) ends the output, not the process with a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

createProgram(processIo)
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    process.stderr.write(errorText(error));
    process.exitCode = 1;
  });
