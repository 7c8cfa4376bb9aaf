import { isGroundcrewError } from "../../shared/errors.js";
import { terminalSafe } from "../../shared/terminal-safe.js";

/** Error text may quote hosts (stderr, hostnames): escape control characters, keep line breaks. */
function printable(message: string): string {
  return message.split("\n").map(terminalSafe).join("\n");
}

/** How the CLI prints an error that ended a command: "groundcrew: <message> [CODE]", one line per message line. */
export function errorText(error: unknown): string {
  if (isGroundcrewError(error)) return `groundcrew: ${printable(error.message)} [${error.code}]\n`;
  return `groundcrew: ${printable(error instanceof Error ? error.message : String(error))}\n`;
}
