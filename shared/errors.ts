/**
 * Errors carry a stable code (match on it, never on message text), the
 * context needed to act on them, an optional cause, and whether retrying the
 * same operation may succeed.
 */
export const ERROR_CODES = {
  LAB_DOCKER_UNAVAILABLE: "the Docker engine cannot be reached",
  LAB_IMAGE_BUILD_FAILED: "the lab machine image could not be built",
  LAB_MACHINE_NOT_READY: "a lab machine did not come up in time",
  SSH_CONNECT_FAILED: "an SSH connection could not be established",
  SSH_HOSTKEY_MISMATCH: "the SSH host key is not the expected one",
  SSH_HOSTKEY_UNKNOWN: "the SSH host key of a host seen for the first time was not accepted",
  SSH_KNOWN_HOSTS_INVALID: "the pinned SSH host keys file is unreadable",
  SSH_COMMAND_FAILED: "a command run over SSH failed",
  AGENT_PUSH_FAILED: "the agent could not be pushed to a host",
  FACTS_UNREADABLE: "a host fact could not be read",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface GroundcrewErrorOptions {
  readonly context?: Readonly<Record<string, string | number | boolean>>;
  readonly cause?: unknown;
  readonly retryable?: boolean;
}

export class GroundcrewError extends Error {
  readonly code: ErrorCode;
  readonly context: Readonly<Record<string, string | number | boolean>>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: GroundcrewErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GroundcrewError";
    this.code = code;
    this.context = options.context ?? {};
    this.retryable = options.retryable ?? false;
  }
}

export function isGroundcrewError(error: unknown, code?: ErrorCode): error is GroundcrewError {
  return error instanceof GroundcrewError && (code === undefined || error.code === code);
}
