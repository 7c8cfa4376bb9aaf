import type { z } from "zod";
import { parseFrame } from "../../shared/protocol.js";
import { StepError } from "./step-error.js";

/** Where the agent keeps its ledger, outboxes and run states unless told otherwise (`--state-dir`). */
export const DEFAULT_STATE_DIR = "/var/lib/groundcrew/agent/state";

/**
 * Parses a JSON file from the state directory with its schema. Throws
 * StepError AGENT_STATE_CORRUPT naming the file and the first problem (never its content).
 */
export function parseStateFile<T>(
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  file: string,
  text: string,
): T {
  const parsed = parseFrame(schema, text);
  if (parsed.ok) return parsed.value;
  throw new StepError("AGENT_STATE_CORRUPT", `state file ${file} is not valid: ${parsed.error}`, {
    context: { path: file },
  });
}
