import type { Redactor } from "../../shared/redactor.js";
import type { CliIo } from "./io.js";

/** `io` with the run's secrets taken out of everything written to it (results and progress alike). */
export function redactingIo(io: CliIo, redactor: Redactor): CliIo {
  return {
    out: (text) => {
      io.out(redactor.redact(text));
    },
    progress: (message) => {
      io.progress(redactor.redact(message));
    },
    ...(io.isTTY === undefined ? {} : { isTTY: io.isTTY }),
    ...(io.stderr === undefined
      ? {}
      : {
          stderr: (text: string) => {
            io.stderr?.(redactor.redact(text));
          },
        }),
  };
}
