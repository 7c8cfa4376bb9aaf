/**
 * Log lines in k3s's (logrus) text format on stderr, which systemd sends to
 * the journal: `time="<RFC 3339>" level=<level> msg="<message>"`. Callers
 * never pass secrets (tokens, passwords, keys) in a message.
 */
export type LogLevel = "debug" | "info" | "warning" | "error" | "fatal";

export function log(level: LogLevel, message: string): void {
  process.stderr.write(`time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(message)}\n`);
}

export const info = (message: string): void => {
  log("info", message);
};
export const warn = (message: string): void => {
  log("warning", message);
};
export const error = (message: string): void => {
  log("error", message);
};
