import { terminalSafe } from "../../shared/terminal-safe.js";

/** Fields every record has or that the line shows in its own place. */
const SHOWN_APART = new Set(["level", "time", "msg", "pid", "hostname", "command", "host", "err"]);

/**
 * A redacted log record as one readable line for stderr (`--verbose`):
 * `HH:MM:SS.mmm LEVEL [host] message key=value ... err="Type: message [CODE]"`.
 * Strings with spaces and nested values are shown as JSON, an error without
 * its stack (the log file has it). Control characters are escaped, so a
 * record (which may quote a host) is always exactly one terminal line.
 */
export function prettyLine(record: Readonly<Record<string, unknown>>): string {
  const level = typeof record["level"] === "string" ? record["level"] : "info";
  const parts = [clock(record["time"]), level.toUpperCase().padEnd(5)];
  const host = record["host"];
  if (typeof host === "string") parts.push(`[${host}]`);
  parts.push(typeof record["msg"] === "string" ? record["msg"] : "");
  for (const [key, value] of Object.entries(record)) {
    if (!SHOWN_APART.has(key) && value !== undefined) parts.push(`${key}=${shown(value)}`);
  }
  const err = record["err"];
  if (err !== undefined) parts.push(`err=${shown(errorSummary(err))}`);
  return `${terminalSafe(parts.filter((part) => part !== "").join(" "))}\n`;
}

function clock(time: unknown): string {
  const date = typeof time === "string" || typeof time === "number" ? new Date(time) : new Date(NaN);
  return Number.isNaN(date.getTime()) ? "--:--:--.---" : date.toISOString().slice(11, 23);
}

function shown(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value);
}

/** "Type: message [CODE]" of a serialized error (pino's err serializer), or the value as it is. */
function errorSummary(err: unknown): unknown {
  if (err === null || typeof err !== "object") return err;
  const fields = new Map<string, unknown>(Object.entries(err));
  const type = fields.get("type");
  const message = fields.get("message");
  const code = fields.get("code");
  if (typeof message !== "string") return err;
  const prefix = typeof type === "string" ? `${type}: ` : "";
  return `${prefix}${message}${typeof code === "string" ? ` [${code}]` : ""}`;
}
