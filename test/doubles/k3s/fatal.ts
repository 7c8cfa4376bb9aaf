/**
 * A reason for the process to stop with exit status 1. The entry point logs
 * the message at level fatal (as k3s does: `level=fatal msg="..."`), so the
 * message must be the text k3s would print and must not contain secrets.
 */
export class FatalError extends Error {
  override readonly name = "FatalError";
}

/** An error's message, for errors of unknown type. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
