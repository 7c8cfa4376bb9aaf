import { z } from "zod";
import { eventEnvelopeSchema, type EventEnvelope } from "../../shared/protocol.js";
import { parseStateFile } from "../runner/state-dir.js";
import { StepError } from "../runner/step-error.js";

/** The acked mark: every event with seq ≤ ackedSeq is journaled by the provisioner. */
export const ACKED_FILE = "acked.json";
const ackedSchema = z.object({ ackedSeq: z.number().int().min(0) }).strict();
const EVENT_FILE = /^(\d{12})\.json$/;
/** What an interrupted writeFileAtomic leaves behind (see agent/host/local-fs.ts). */
const TEMP_FILE = /^\..*\.tmp$/;

/** "000000000042.json": names sort in seq order. */
export function eventFileName(seq: number): string {
  return `${String(seq).padStart(12, "0")}.json`;
}

/** The seq an outbox file name stands for, "temp" for a leftover temp file, undefined for anything else. */
export function classifyName(name: string): number | "temp" | undefined {
  if (TEMP_FILE.test(name)) return "temp";
  const match = EVENT_FILE.exec(name);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function corrupt(path: string, what: string): StepError {
  return new StepError("AGENT_STATE_CORRUPT", `outbox file ${path} ${what}`, { context: { path } });
}

export function parseAcked(path: string, text: string): number {
  return parseStateFile(ackedSchema, path, text).ackedSeq;
}

/** An event file's envelope; AGENT_STATE_CORRUPT unless it is valid and belongs to (runId, host, seq). */
export function parseEventFile(
  path: string,
  text: string,
  expected: Pick<EventEnvelope, "runId" | "host" | "seq">,
): EventEnvelope {
  const envelope = parseStateFile(eventEnvelopeSchema, path, text);
  const { runId, host, seq } = envelope;
  if (runId !== expected.runId || host !== expected.host || seq !== expected.seq) {
    throw corrupt(
      path,
      `belongs to (${runId}, ${host}, ${seq}), not (${expected.runId}, ${expected.host}, ${expected.seq})`,
    );
  }
  return envelope;
}

export function serializeAcked(ackedSeq: number): string {
  return `${JSON.stringify({ ackedSeq })}\n`;
}
