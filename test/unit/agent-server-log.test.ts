import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../server/log/logger.js";
import type { RedactedLine } from "../../server/log/redacting-stream.js";
import { Redactor } from "../../shared/redactor.js";
import { Secret } from "../../shared/secret.js";
import { dial, dialOpen, startServer, waitFor } from "../fixtures/tls/harness.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";

/** The agent server's diagnostics: connect, welcome, refusals with their codes, disconnect; never key material. */
describe("AgentServer diagnostics", { timeout: 30_000 }, () => {
  let world: TlsWorld;

  beforeAll(async () => {
    world = await makeTlsWorld();
  });
  afterAll(async () => {
    await world.dispose();
  });

  it("logs each agent's connection, welcome or refusal, and disconnection", async () => {
    const lines: RedactedLine[] = [];
    const redactor = new Redactor([new Secret(world.server.key)]);
    const log = createLogger({ redactor, level: "debug", sinks: [(line) => lines.push(line)] });
    const { server, url } = await startServer(world, { log, hostNames: ["node-a", "node-c"] });
    try {
      const nodeA = await world.hostCert("node-a");
      redactor.add(new Secret(nodeA.keyPem));
      const welcomed = await dialOpen(url, nodeA, world.caPem);
      welcomed.hello("node-a");
      await waitFor(() => welcomed.of("welcome").length === 1, 5000, "the welcome");
      const wrongRun = await dialOpen(url, await world.hostCert("node-c"), world.caPem);
      wrongRun.hello("node-c", "run-that-is-not");
      await wrongRun.closed;
      // node-b has a certificate of our CA but is not in the run: refused before any WebSocket.
      expect(await dial(url, await world.hostCert("node-b"), world.caPem)).toMatchObject({ kind: "http" });
      welcomed.ws.close();
      await waitFor(
        () => lines.some((line) => line.record["msg"] === "agent disconnected"),
        5000,
        "the disconnection",
      );
    } finally {
      await server.close();
    }
    const shown = lines.map((line) => line.record);
    const summary = shown.map((record) => `${String(record["level"])} ${String(record["msg"])}`);
    expect(summary).toEqual(
      expect.arrayContaining([
        "debug agent connected",
        "info agent welcomed",
        expect.stringMatching(/^warn agent refused: no run run-that-is-not$/) as unknown,
        expect.stringMatching(/^warn node-b: /) as unknown,
        "info agent disconnected",
      ]),
    );
    expect(shown).toContainEqual(
      expect.objectContaining({ msg: "agent welcomed", host: "node-a", ackedSeq: 0 }),
    );
    expect(shown).toContainEqual(
      expect.objectContaining({ host: "node-c", reject: "UNKNOWN_RUN", runId: "run-that-is-not" }),
    );
    expect(shown).toContainEqual(expect.objectContaining({ host: "node-b", code: "AGENT_TLS_REFUSED" }));
    const text = lines.map((line) => line.json).join("");
    expect(text).not.toContain("PRIVATE KEY");
  });
});
