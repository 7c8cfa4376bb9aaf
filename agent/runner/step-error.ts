import { GroundcrewError, type ErrorCode, type GroundcrewErrorOptions } from "../../shared/errors.js";

/**
 * What a step throws when the host is not as it must be: a stable code, a
 * message naming the path or command, context to act on. The runner reports
 * its code and message in `step.failed`.
 */
export class StepError extends GroundcrewError {
  constructor(code: ErrorCode, message: string, options: GroundcrewErrorOptions = {}) {
    super(code, message, options);
    this.name = "StepError";
  }
}
