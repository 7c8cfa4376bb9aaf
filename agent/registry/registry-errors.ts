import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import { terminalSafe } from "../../shared/terminal-safe.js";
import type { HttpAnswer } from "./registry-http.js";

/** The OCI distribution error body: {"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"..."}]}. */
const errorBodySchema = z.object({
  errors: z.array(z.object({ code: z.string().max(100), message: z.string().max(2000).optional() })).max(50),
});

/** The registry's error codes and messages from a body, made safe to print; "" when the body has none. */
export function registryErrorText(body: Buffer): { codes: string[]; text: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return { codes: [], text: "" };
  }
  const result = errorBodySchema.safeParse(parsed);
  if (!result.success) return { codes: [], text: "" };
  const errors = result.data.errors.slice(0, 5);
  const codes = errors.map((error) => terminalSafe(error.code));
  const text = errors
    .map((error) =>
      terminalSafe(error.message === undefined ? error.code : `${error.code} (${error.message})`),
    )
    .join("; ");
  return { codes, text: text.slice(0, 500) };
}

/**
 * A registry's refusal as REGISTRY_PUSH_FAILED: the message names what was
 * attempted, the HTTP status and the registry's error codes, e.g.
 * "PUT manifest library/app:1 (...): HTTP 400 MANIFEST_BLOB_UNKNOWN (blob unknown to registry)".
 * Retryable for 5xx and 429.
 */
export function registryRefusal(what: string, answer: HttpAnswer): GroundcrewError {
  const { codes, text } = registryErrorText(answer.body);
  return new GroundcrewError(
    "REGISTRY_PUSH_FAILED",
    `${what}: HTTP ${answer.status}${text === "" ? "" : ` ${text}`}`,
    {
      retryable: answer.status >= 500 || answer.status === 429,
      context: { status: answer.status, ...(codes[0] === undefined ? {} : { registryCode: codes[0] }) },
    },
  );
}

/** A header's single value (the first when repeated). */
export function header(answer: HttpAnswer, name: string): string | undefined {
  const value = answer.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
