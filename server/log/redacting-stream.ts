import type { Redactor } from "../../shared/redactor.js";
import { deepRedact } from "./deep-redact.js";

/** One log line after redaction: the record (parsed) and its JSON text, newline-terminated. */
export interface RedactedLine {
  readonly record: Readonly<Record<string, unknown>>;
  readonly json: string;
}

/** Where redacted lines go (the log file, the verbose stderr view). Must not throw. */
export type LineSink = (line: RedactedLine) => void;

/**
 * The destination pino writes its serialized lines to. Every line is parsed
 * back and every string in it (message, nested fields, child bindings, an
 * error's message, stack, context and causes) is redacted on its unescaped
 * value, so a secret is found whatever JSON escaping it took; the
 * re-serialized line is redacted once more as text. Only then does it reach
 * the sinks. Synchronous: a line is written (or dropped by its sink) before
 * the log call returns, so nothing is lost when the process ends.
 */
export function redactingStream(
  redactor: Redactor,
  sinks: readonly LineSink[],
): { write(serialized: string): void } {
  return {
    write: (serialized) => {
      const line = redactLine(serialized, redactor);
      for (const sink of sinks) sink(line);
    },
  };
}

export function redactLine(serialized: string, redactor: Redactor): RedactedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(serialized);
  } catch {
    parsed = undefined;
  }
  const redacted = deepRedact(parsed, redactor);
  if (redacted === null || typeof redacted !== "object" || Array.isArray(redacted)) {
    // Not a pino record (it always is): keep the text, redacted as text.
    const msg = redactor.redact(serialized.trimEnd());
    return { record: { msg }, json: `${JSON.stringify({ msg })}\n` };
  }
  const record: Record<string, unknown> = { ...redacted };
  return { record, json: `${redactor.redact(JSON.stringify(record))}\n` };
}
