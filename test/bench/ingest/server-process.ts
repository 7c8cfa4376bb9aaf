import { Redactor } from "../../../shared/redactor.js";
import { Secret } from "../../../shared/secret.js";
import { Journal } from "../../../server/journal/index.js";
import { redactingSink } from "../../../server/orchestrate/redaction.js";
import { AgentServer } from "../../../server/ws/agent-server.js";
import { serveRequests } from "./ipc.js";
import { processStats } from "./process-stats.js";
import { serverRequestSchema, type ServerRequest } from "./server-protocol.js";

/**
 * The provisioner's side of a load test, alone in its process so its RSS and
 * CPU are its own: the real journal (WAL, synchronous=FULL) behind the
 * redacting sink `up` uses, and the real AgentServer (mutual TLS, group
 * commit: one transaction per event-loop turn, acks after it), wired as server/orchestrate/up.ts
 * wires them. Driven over IPC by the bench runner (server-protocol.ts).
 */

const MAX_ERROR_SAMPLES = 5;

let journal: Journal | undefined;
let server: AgentServer | undefined;
let inserted = 0;
const errorCounts: Record<string, number> = {};
const errorSamples: string[] = [];

async function start(request: Extract<ServerRequest, { type: "start" }>): Promise<object> {
  if (server !== undefined) throw new Error("already started");
  const opened = Journal.open(request.journalPath);
  journal = opened;
  const { runId, hosts } = request;
  opened.startRun({ id: runId, action: "apply", inventory: "bench", hosts });
  // `up` redacts every event with the run's secrets before the commit; one token keeps that cost in.
  const redactor = new Redactor([new Secret("K10bench-cluster-token::server:0123456789abcdef")]);
  server = await AgentServer.listen({
    host: "127.0.0.1",
    port: 0,
    tls: request.tls,
    hosts: new Set(hosts),
    sink: redactingSink(opened, redactor),
    onHello: (host, hello) =>
      hello.runId === runId
        ? { plan: { runId, host, action: "apply", steps: [] }, ackedSeq: opened.lastSeq(runId, host) }
        : { reject: "UNKNOWN_RUN", message: `run ${hello.runId} is not the current run` },
    onEvent: () => {
      inserted += 1;
    },
    onAgentError: (error) => {
      errorCounts[error.code] = (errorCounts[error.code] ?? 0) + 1;
      if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(error.message);
    },
  });
  return { type: "listening", port: server.address().port };
}

async function handle(request: ServerRequest): Promise<object> {
  switch (request.type) {
    case "start":
      return start(request);
    case "stats":
      return {
        type: "stats",
        process: processStats(),
        inserted,
        liveHosts: server?.liveHosts().length ?? 0,
        errorCounts,
        errorSamples,
      };
    case "stop":
      await server?.close();
      journal?.close();
      setImmediate(() => {
        process.disconnect();
      });
      return { type: "stopped" };
  }
}

serveRequests(serverRequestSchema, handle);
