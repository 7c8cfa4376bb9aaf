import { z } from "zod";
import { summarySchema } from "../report/stats.js";
import { processStatsSchema } from "./process-stats.js";

/** Requests the bench runner sends to the simulated agents' process (agents-process.ts), and its replies. */

export const agentsRequestSchema = z.discriminatedUnion("type", [
  z
    .object({
      type: z.literal("connect"),
      url: z.string().url(),
      runId: z.string(),
      caPem: z.string(),
      keyPem: z.string(),
      hosts: z.array(z.object({ host: z.string(), certPem: z.string() }).strict()),
      /** Reply after this long even when not every agent was welcomed. */
      timeoutMs: z.number().int().min(1),
    })
    .strict(),
  z
    .object({
      type: z.literal("stream"),
      /** Events each agent sends (seqs continue after what it sent before). */
      events: z.number().int().min(1),
      /** Unacknowledged events an agent may have in flight. */
      window: z.number().int().min(1),
      timeoutMs: z.number().int().min(1),
    })
    .strict(),
  z.object({ type: z.literal("stop") }).strict(),
]);

export type AgentsRequest = z.infer<typeof agentsRequestSchema>;

const problemsShape = {
  /** Client-side errors (failed dials, drops) by message, and refusals by code. */
  errorCounts: z.record(z.string(), z.number().int()),
  disconnects: z.number().int().min(0),
  process: processStatsSchema,
};

export const connectedSchema = z
  .object({
    type: z.literal("connected"),
    agents: z.number().int().min(0),
    welcomed: z.number().int().min(0),
    /** From the first dial to the last welcome (or the timeout). */
    seconds: z.number().min(0),
    /** Per agent, from its dial to its welcome. */
    welcomeMs: summarySchema,
    ...problemsShape,
  })
  .strict();

export const streamedSchema = z
  .object({
    type: z.literal("streamed"),
    /** Events acknowledged by the provisioner in this phase, over all agents. */
    acked: z.number().int().min(0),
    expected: z.number().int().min(0),
    /** From the first send to the last ack (or the timeout). */
    seconds: z.number().min(0),
    /** Per event, from its send to the ack that covered it. */
    ackMs: summarySchema,
    ...problemsShape,
  })
  .strict();

export type Connected = z.infer<typeof connectedSchema>;
export type Streamed = z.infer<typeof streamedSchema>;
