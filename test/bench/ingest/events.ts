import type { EventEnvelope } from "../../../shared/protocol.js";

/** The step every simulated agent reports under. */
export const BENCH_STEP = "bench.ingest";
const PADDING = "x".repeat(72);

/**
 * Event `seq` of `host`: a `step.log` line of about 100 bytes (the kind that
 * makes up most of a real run's events) that names its host and seq, so the
 * journal can be checked line by line (see LINE_PATTERN_SQL).
 */
export function benchEnvelope(runId: string, host: string, seq: number): EventEnvelope {
  return {
    runId,
    host,
    seq,
    at: new Date().toISOString(),
    event: {
      kind: "step.log",
      stepId: BENCH_STEP,
      stream: "stdout",
      line: `bench ${host} event ${seq} ${PADDING}`,
    },
  };
}

/** SQL that is true for a journaled row whose line is the one benchEnvelope made for its host and seq. */
export const LINE_PATTERN_SQL = `json_extract(body, '$.line') = 'bench ' || host || ' event ' || seq || ' ${PADDING}'`;
