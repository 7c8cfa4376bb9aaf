import { z } from "zod";
import { processStatsSchema } from "./process-stats.js";

/** Requests the bench runner sends to the provisioner process (server-process.ts), and its replies. */

export const serverRequestSchema = z.discriminatedUnion("type", [
  z
    .object({
      type: z.literal("start"),
      journalPath: z.string(),
      runId: z.string(),
      hosts: z.array(z.string()),
      tls: z.object({ cert: z.string(), key: z.string(), ca: z.string() }).strict(),
    })
    .strict(),
  z.object({ type: z.literal("stats") }).strict(),
  z.object({ type: z.literal("stop") }).strict(),
]);

export type ServerRequest = z.infer<typeof serverRequestSchema>;

export const listeningSchema = z.object({ type: z.literal("listening"), port: z.number().int() }).strict();

export const serverStatsSchema = z
  .object({
    type: z.literal("stats"),
    process: processStatsSchema,
    /** Events newly journaled (not resends) since the start. */
    inserted: z.number().int().min(0),
    liveHosts: z.number().int().min(0),
    /** Agent errors the server reported, by code, and the first few messages. */
    errorCounts: z.record(z.string(), z.number().int()),
    errorSamples: z.array(z.string()),
  })
  .strict();

export type ServerStats = z.infer<typeof serverStatsSchema>;

export const stoppedSchema = z.object({ type: z.literal("stopped") }).strict();
