import { request } from "node:https";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { HostCertificate } from "../../server/pki/pki.js";
import {
  dial,
  dialOpen,
  envelope,
  startServer,
  waitFor,
  type ServerHarness,
} from "../fixtures/tls/harness.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";

describe("agent channel over mutual TLS: who is refused", { timeout: 20_000 }, () => {
  let world: TlsWorld;
  let nodeA: HostCertificate;
  let harness: ServerHarness;

  beforeAll(async () => {
    world = await makeTlsWorld();
    nodeA = await world.hostCert("node-a");
  });
  afterEach(async () => {
    await harness.server.close();
  });
  afterAll(async () => {
    await world.dispose();
  });

  it("refuses a client certificate of another CA during the handshake", async () => {
    harness = await startServer(world);
    const stranger = await (await world.foreign()).hostCert("node-a");
    const outcome = await dial(harness.url, stranger, world.caPem);
    expect(outcome.kind).toBe("error");
    await waitFor(() => harness.errors.length > 0);
    expect(harness.errors[0]?.code).toBe("AGENT_TLS_REFUSED");
    expect(harness.errors[0]?.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
    expect(harness.server.liveHosts()).toEqual([]);
  });

  it("refuses an expired client certificate of our CA during the handshake", async () => {
    harness = await startServer(world);
    const expired = await world.expiredHostCert("node-a");
    expect(expired.notAfter.getTime()).toBeLessThan(Date.now());
    const outcome = await dial(harness.url, expired, world.caPem);
    expect(outcome.kind).toBe("error");
    await waitFor(() => harness.errors.length > 0);
    expect(harness.errors[0]?.code).toBe("AGENT_TLS_REFUSED");
    expect(harness.errors[0]?.message).toMatch(/CERT_HAS_EXPIRED/);
  });

  it("an agent refuses a server whose certificate another CA signed", async () => {
    const foreign = await world.foreign();
    harness = await startServer(world, { tls: foreign.server });
    const outcome = await dial(harness.url, nodeA, world.caPem);
    expect(outcome).toMatchObject({ kind: "error" });
    expect(outcome.kind === "error" ? outcome.message : "").toMatch(/certificate/i);
  });

  it("refuses a certificate naming a host outside the inventory with 403, no WebSocket", async () => {
    harness = await startServer(world);
    const outcome = await dial(harness.url, await world.hostCert("node-z"), world.caPem);
    expect(outcome).toEqual({ kind: "http", status: 403 });
    expect(harness.errors.map((error) => error.code)).toEqual(["AGENT_TLS_REFUSED"]);
    expect(harness.errors[0]?.context).toMatchObject({ host: "node-z", status: 403 });
  });

  it("refuses the server's own certificate used as a client certificate (no clientAuth EKU)", async () => {
    harness = await startServer(world);
    const outcome = await dial(
      harness.url,
      { certPem: world.server.cert, keyPem: world.server.key },
      world.caPem,
    );
    expect(outcome.kind).toBe("error");
    await waitFor(() => harness.errors.length > 0);
    expect(harness.errors[0]?.message).toMatch(/INVALID_PURPOSE/);
  });

  it("answers 404 off the agent path and 426 to plain requests", async () => {
    harness = await startServer(world);
    const outcome = await dial(harness.url.replace("/agent", "/other"), nodeA, world.caPem);
    expect(outcome).toEqual({ kind: "http", status: 404 });
    const response = await new Promise<number>((resolve, reject) => {
      const url = harness.url.replace("wss:", "https:");
      const req = request(url, { cert: nodeA.certPem, key: nodeA.keyPem, ca: [world.caPem] }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(response).toBe(426);
  });

  it("refuses a revoked certificate with 403, while a newer one of the same host connects", async () => {
    harness = await startServer(world, { hostNames: ["node-r"] });
    const old = await world.hostCert("node-r");
    expect(await world.pki.revoke("node-r")).toEqual([old.serial]);
    expect(await dial(harness.url, old, world.caPem)).toEqual({ kind: "http", status: 403 });
    expect(harness.errors[0]?.message).toMatch(/revoked/);

    const fresh = await world.hostCert("node-r");
    const agent = await dialOpen(harness.url, fresh, world.caPem);
    agent.hello("node-r");
    await waitFor(() => agent.of("welcome").length === 1);
    agent.ws.close();
    await agent.closed;
  });

  it("revokeLive cuts a live session at once: nothing more is journaled, and it cannot come back", async () => {
    harness = await startServer(world, { hostNames: ["node-s", "node-b"] });
    const stolen = await world.hostCert("node-s");
    const agent = await dialOpen(harness.url, stolen, world.caPem);
    agent.hello("node-s");
    await waitFor(() => agent.of("welcome").length === 1);
    agent.event(envelope("node-s", 1));
    await waitFor(() => agent.of("ack").length === 1);

    await world.pki.revoke("node-s");
    expect(harness.server.revokeLive("node-s")).toBe(true);
    agent.event(envelope("node-s", 2));
    const closed = await agent.closed;
    expect(closed.code).toBe(1008);
    expect(agent.of("reject")).toMatchObject([{ code: "REVOKED" }]);
    expect(harness.sink.seqs("run-1", "node-s")).toEqual([1]);
    expect(harness.server.revokeLive("node-s")).toBe(false);
    expect(await dial(harness.url, stolen, world.caPem)).toEqual({ kind: "http", status: 403 });
  });
});
