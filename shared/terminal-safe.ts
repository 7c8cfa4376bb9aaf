/**
 * Makes text that came from a host safe to print on a terminal: every C0/C1
 * control character (ESC included) and DEL is shown as a visible escape
 * (\x1b, \n, ...), so a host can never move the cursor, recolour, retitle or
 * clear the provisioner's terminal.
 */
export function terminalSafe(text: string): string {
  // Matching control characters is the point here.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => {
    switch (char) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default:
        return `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
    }
  });
}
