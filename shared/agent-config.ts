import { z } from "zod";

/**
 * What the provisioner writes to a host for its agent (`serve --config`):
 * who it is, which run it serves, where to dial back and its TLS material.
 * The agent validates it on start; a malformed config is a hard error.
 */
export const agentConfigSchema = z
  .object({
    host: z.string().min(1).max(253),
    runId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    /** Tried in order until one answers: wss://ADDRESS:PORT/agent. */
    servers: z.array(z.string().url().startsWith("wss://")).min(1),
    tls: z.object({ ca: z.string(), cert: z.string(), key: z.string() }).strict(),
    stateDir: z.string().startsWith("/"),
  })
  .strict();

export type AgentConfig = z.infer<typeof agentConfigSchema>;
