export interface BackoffOptions {
  /** Upper bound of the first wait. Default 500. */
  readonly baseMs?: number;
  /** No wait is ever longer. Default 30000. */
  readonly capMs?: number;
}

/**
 * Exponential backoff with full jitter: a uniform wait in
 * [0, min(cap, base · 2^attempt)), where `attempt` counts the failures
 * since the last successful session (0 for the first retry). Spreads a
 * fleet's reconnects after a provisioner restart. `random` returns [0, 1).
 */
export function backoffDelay(attempt: number, random: () => number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 500;
  const cap = options.capMs ?? 30_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(Math.min(Math.max(random(), 0), 1 - Number.EPSILON) * ceiling);
}
