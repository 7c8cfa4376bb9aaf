import { createHash, randomBytes } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { createServer, request, type Server } from "node:https";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { checkServerIdentity } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startDepotServer, type DepotServer } from "../../agent/cas/depot-server.js";
import {
  fetchArtifact,
  type ClientTls,
  type FetchOptions,
  type FetchProgress,
} from "../../agent/cas/fetch.js";
import { CasStore } from "../../agent/cas/store.js";
import { main } from "../../agent/cli.js";
import { localFs } from "../../agent/host/local-fs.js";
import type { ArtifactRef } from "../../shared/artifacts.js";
import type { ArtifactSource, DepotConfig } from "../../shared/depot-config.js";
import { isGroundcrewError, type GroundcrewError } from "../../shared/errors.js";
import { hostServerName } from "../../shared/host-identity.js";
import type { HostCertificate } from "../../server/pki/pki.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";

function artifact(content: Buffer, name: string): ArtifactRef {
  const sha256 = createHash("sha256").update(content).digest("hex");
  return { sha256, size: content.byteLength, path: name, kind: "image-archive" };
}

function clientTls(cert: HostCertificate, ca = cert.caPem): ClientTls {
  return { ca, cert: cert.certPem, key: cert.keyPem };
}

async function* bytes(content: Buffer): AsyncGenerator<Uint8Array> {
  await Promise.resolve();
  yield content;
}

async function fetchFailure(options: FetchOptions): Promise<GroundcrewError> {
  const error: unknown = await fetchArtifact(options).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isGroundcrewError(error)) throw new Error(`expected a GroundcrewError, got ${String(error)}`);
  return error;
}

/** A port on 127.0.0.1 with nothing listening. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request to the depot with `cert`, checking its identity against depot1's name. */
function raw(
  port: number,
  urlPath: string,
  cert: HostCertificate,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path: urlPath,
      method: options.method ?? "GET",
      headers: options.headers ?? {},
      agent: false,
      ca: [cert.caPem],
      cert: cert.certPem,
      key: cert.keyPem,
      servername: hostServerName("depot1"),
      checkServerIdentity: (_host, peer) => checkServerIdentity(hostServerName("depot1"), peer),
    });
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (chunk: Buffer) => parts.push(chunk));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("depot server and artifact fetch over mutual TLS", { timeout: 30_000 }, () => {
  let world: TlsWorld;
  let depot1: HostCertificate;
  let node1: HostCertificate;
  let dir: string;
  let depot: DepotServer;
  let depotSource: ArtifactSource;
  const big = randomBytes(3 * 1024 * 1024 + 123);
  const bigRef = artifact(big, "images/big.tar");
  const small = randomBytes(4096);
  const smallRef = artifact(small, "manifests/small.yaml");
  const extraServers: Server[] = [];
  const depotLog: string[] = [];

  beforeAll(async () => {
    world = await makeTlsWorld();
    depot1 = await world.hostCert("depot1");
    node1 = await world.hostCert("node1");
    dir = await mkdtemp(path.join(tmpdir(), "gc-depot-"));
    const depotStore = new CasStore(path.join(dir, "depot"));
    await depotStore.writeFrom(bigRef, bytes(big), 0);
    await depotStore.writeFrom(smallRef, bytes(small), 0);
    depot = await startDepotServer({
      root: depotStore.root,
      port: 0,
      host: "127.0.0.1",
      tls: { caPem: depot1.caPem, certPem: depot1.certPem, keyPem: depot1.keyPem },
      allowedHosts: ["node1"],
      log: (line) => depotLog.push(line),
    });
    depotSource = {
      name: "depot depot1",
      url: `https://127.0.0.1:${depot.port}`,
      serverName: hostServerName("depot1"),
    };
  });
  afterEach(async () => {
    for (const server of extraServers.splice(0)) {
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    }
  });
  afterAll(async () => {
    await depot.close();
    await world.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  let clientCount = 0;
  function freshClient(): CasStore {
    clientCount += 1;
    return new CasStore(path.join(dir, `client-${clientCount}`));
  }

  /** An HTTPS server with depot1's certificate that answers every request with `handler`. */
  async function fakeSource(
    name: string,
    handler: Parameters<typeof createServer>[1],
  ): Promise<ArtifactSource> {
    const server = createServer(
      {
        cert: depot1.certPem,
        key: depot1.keyPem,
        ca: [depot1.caPem],
        requestCert: true,
        rejectUnauthorized: true,
      },
      handler,
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    extraServers.push(server);
    const { port } = server.address() as AddressInfo;
    return { name, url: `https://127.0.0.1:${port}`, serverName: hostServerName("depot1") };
  }

  it("fetches an artifact, checking the depot's certificate against its host name", async () => {
    const store = freshClient();
    const before = depot.bytesServed;
    const progress: FetchProgress[] = [];
    const result = await fetchArtifact({
      ref: bigRef,
      store,
      sources: [depotSource],
      tls: clientTls(node1),
      onProgress: (update) => progress.push(update),
    });
    expect(result).toEqual({
      servedBy: "depot depot1",
      bytesTransferred: big.byteLength,
      resumedFrom: 0,
      failures: [],
    });
    expect((await readFile(store.finalPath(bigRef.sha256))).equals(big)).toBe(true);
    expect(depot.bytesServed - before).toBe(big.byteLength);
    expect(progress.at(-1)).toEqual({ bytesDone: big.byteLength, bytesTotal: big.byteLength });
    // Already stored: nothing is fetched.
    expect(
      await fetchArtifact({ ref: bigRef, store, sources: [depotSource], tls: clientTls(node1) }),
    ).toEqual({
      servedBy: undefined,
      bytesTransferred: 0,
      resumedFrom: 0,
      failures: [],
    });
  });

  it("refuses a depot whose certificate does not carry the expected name (or an address)", async () => {
    const store = freshClient();
    const wrongName = await fetchFailure({
      ref: smallRef,
      store,
      sources: [{ ...depotSource, name: "impostor", serverName: hostServerName("node1") }],
      tls: clientTls(node1),
    });
    expect(wrongName.code).toBe("CAS_FETCH_FAILED");
    expect(wrongName.message).toMatch(/impostor: .*(node1\.groundcrew\.internal|altnames)/i);
    const byAddress = await fetchFailure({
      ref: smallRef,
      store,
      sources: [{ name: "by address", url: depotSource.url }],
      tls: clientTls(node1),
    });
    expect(byAddress.message).toMatch(/by address: .*127\.0\.0\.1/);
    expect(await store.has(smallRef)).toBe(false);
  });

  it("refuses a client certificate of another CA during the handshake", async () => {
    const store = freshClient();
    const stranger = await (await world.foreign()).hostCert("node1");
    const before = depot.bytesServed;
    const refused = await fetchFailure({
      ref: smallRef,
      store,
      sources: [depotSource],
      tls: clientTls(stranger, world.caPem),
    });
    expect(refused.code).toBe("CAS_FETCH_FAILED");
    expect(refused.message).toMatch(
      /^cannot fetch manifests\/small\.yaml \(sha256 [0-9a-f]{64}\) from any source: depot depot1: /,
    );
    expect(refused.message).not.toContain("HTTP");
    await expect
      .poll(() =>
        depotLog.some((line) =>
          /^refused handshake from .*: client certificate refused: UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT)/.test(
            line,
          ),
        ),
      )
      .toBe(true);
    expect(depot.bytesServed).toBe(before);
  });

  it("a client refuses a depot whose certificate another CA signed", async () => {
    const store = freshClient();
    const foreign = await world.foreign();
    const fakeDepot = await foreign.hostCert("depot1");
    const impostor = createServer(
      { cert: fakeDepot.certPem, key: fakeDepot.keyPem, ca: [fakeDepot.caPem], requestCert: false },
      (_req, res) => res.end(small),
    );
    await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
    extraServers.push(impostor);
    const { port } = impostor.address() as AddressInfo;
    const refused = await fetchFailure({
      ref: smallRef,
      store,
      sources: [{ ...depotSource, url: `https://127.0.0.1:${port}` }],
      tls: clientTls(node1),
    });
    expect(refused.message).toMatch(/depot depot1: .*(certificate|UNABLE_TO_VERIFY)/i);
  });

  it("answers 403 to a certificate of our CA whose host is not allowed", async () => {
    const store = freshClient();
    const outsider = await world.hostCert("outsider");
    const refused = await fetchFailure({
      ref: smallRef,
      store,
      sources: [depotSource],
      tls: clientTls(outsider),
    });
    expect(refused.message).toContain("depot depot1: answered HTTP 403 Forbidden");
    expect((await raw(depot.port, `/cas/sha256/${smallRef.sha256}`, outsider)).status).toBe(403);
    expect(depotLog).toContainEqual(
      expect.stringMatching(/^refused 127\.0\.0\.1:\d+: outsider is not an allowed host$/),
    );
  });

  it("resumes with a Range request after a source dies mid-transfer, fetching only the rest", async () => {
    const store = freshClient();
    const cutter = await fakeSource("cutter", (_req, res) => {
      res.writeHead(200, { "Content-Length": String(big.byteLength) });
      res.write(big.subarray(0, 1024 * 1024), () => {
        setTimeout(() => res.socket?.destroy(), 100);
      });
    });
    const before = depot.bytesServed;
    const result = await fetchArtifact({
      ref: bigRef,
      store,
      sources: [cutter, depotSource],
      tls: clientTls(node1),
    });
    expect(result.servedBy).toBe("depot depot1");
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(result.failures).toEqual([
      expect.objectContaining({
        source: "cutter",
        unreachable: false,
        reason: expect.stringMatching(/incomplete/) as string,
      }),
    ]);
    const fromDepot = depot.bytesServed - before;
    expect(fromDepot).toBe(big.byteLength - result.resumedFrom);
    expect(fromDepot).toBeLessThan(big.byteLength);
    expect(result.bytesTransferred).toBe(big.byteLength);
    expect((await readFile(store.finalPath(bigRef.sha256))).equals(big)).toBe(true);
  });

  it("gives up on a source that goes silent (idle timeout) and resumes from the next", async () => {
    const store = freshClient();
    const staller = await fakeSource("staller", (_req, res) => {
      res.writeHead(200, { "Content-Length": String(big.byteLength) });
      res.write(big.subarray(0, 64 * 1024));
    });
    const result = await fetchArtifact({
      ref: bigRef,
      store,
      sources: [staller, depotSource],
      tls: clientTls(node1),
      idleTimeoutMs: 300,
    });
    expect(result.servedBy).toBe("depot depot1");
    expect(result.failures[0]?.source).toBe("staller");
    expect(result.failures[0]?.reason).toMatch(/nothing received for 300 ms/);
    expect(result.failures[0]?.code).toBe("ETIMEDOUT");
    expect(await store.has(bigRef)).toBe(true);
  });

  it("goes to the next source after bad bytes, which starts over from byte 0", async () => {
    const store = freshClient();
    const liar = await fakeSource("liar", (_req, res) => {
      res.writeHead(200, { "Content-Length": String(small.byteLength) });
      res.end(randomBytes(small.byteLength));
    });
    const result = await fetchArtifact({
      ref: smallRef,
      store,
      sources: [liar, depotSource],
      tls: clientTls(node1),
    });
    expect(result.servedBy).toBe("depot depot1");
    expect(result.resumedFrom).toBe(0);
    expect(result.failures).toEqual([expect.objectContaining({ source: "liar", code: "CAS_VERIFY_FAILED" })]);
    expect(await readFile(store.finalPath(smallRef.sha256))).toEqual(small);
  });

  it("uses the sources in order: a depot that is down is skipped and reported", async () => {
    const store = freshClient();
    const down: ArtifactSource = { name: "depot cp1", url: `https://127.0.0.1:${await closedPort()}` };
    const result = await fetchArtifact({
      ref: smallRef,
      store,
      sources: [down, depotSource],
      tls: clientTls(node1),
    });
    expect(result.servedBy).toBe("depot depot1");
    expect(result.failures).toEqual([
      expect.objectContaining({ source: "depot cp1", code: "ECONNREFUSED", unreachable: true }),
    ]);
  });

  it("a depot without the artifact (404) is skipped too", async () => {
    const store = freshClient();
    const missing = artifact(randomBytes(100), "debs/missing.deb");
    const failed = await fetchFailure({ ref: missing, store, sources: [depotSource], tls: clientTls(node1) });
    expect(failed.message).toContain("depot depot1: answered HTTP 404 Not Found");
  });

  it("throws CAS_FETCH_FAILED naming the artifact and every source's reason when all are down", async () => {
    const store = freshClient();
    const sources: ArtifactSource[] = [
      { name: "depot cp1", url: `https://127.0.0.1:${await closedPort()}` },
      { name: "the provisioner", url: `https://127.0.0.1:${await closedPort()}` },
    ];
    const failed = await fetchFailure({ ref: smallRef, store, sources, tls: clientTls(node1) });
    expect(failed.code).toBe("CAS_FETCH_FAILED");
    expect(failed.retryable).toBe(true);
    expect(failed.message).toMatch(
      new RegExp(
        `^cannot fetch manifests/small\\.yaml \\(sha256 ${smallRef.sha256}\\) from any source: ` +
          "depot cp1: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+; the provisioner: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+$",
      ),
    );
  });

  it("does not blame a source for this host's store: another writer's lock is thrown as is", async () => {
    const store = freshClient();
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holder = store.writeFrom(
      smallRef,
      (async function* () {
        await gate;
        yield small;
      })(),
      0,
    );
    await expect.poll(async () => (await readdir(path.join(store.root, "tmp"))).length).toBe(2);
    const busy: unknown = await fetchArtifact({
      ref: smallRef,
      store,
      sources: [depotSource],
      tls: clientTls(node1),
    }).catch((error: unknown) => error);
    expect(isGroundcrewError(busy, "CAS_WRITE_FAILED")).toBe(true);
    expect(busy instanceof Error ? busy.message : "").toContain("is being written by process");
    release();
    await holder;
    expect(await store.has(smallRef)).toBe(true);
  });

  it("stops at once when cancelled", async () => {
    const store = freshClient();
    const controller = new AbortController();
    controller.abort();
    const failed = await fetchFailure({
      ref: smallRef,
      store,
      sources: [depotSource],
      tls: clientTls(node1),
      signal: controller.signal,
    });
    expect(failed.message).toBe("fetching manifests/small.yaml was cancelled");
  });

  it("serves only exact /cas/sha256/<hex> paths of final files: 400 or 404 for anything else", async () => {
    const root = path.join(dir, "depot");
    const partialOnly = artifact(randomBytes(10), "partial");
    await writeFile(path.join(root, "tmp", `${partialOnly.sha256}.partial`), "0123456789");
    const linked = createHash("sha256").update("link").digest("hex");
    await mkdir(path.join(root, "sha256"), { recursive: true });
    await symlink("/etc/hostname", path.join(root, "sha256", linked));
    const status = async (urlPath: string) => (await raw(depot.port, urlPath, node1)).status;
    for (const bad of [
      `/cas/sha256/../../../etc/passwd`,
      `/cas/sha256/..%2f..%2fetc%2fpasswd`,
      `/cas/sha256/%2e%2e/tmp/${partialOnly.sha256}.partial`,
      `/cas/tmp/${partialOnly.sha256}.partial`,
      `/cas/sha256/${smallRef.sha256.toUpperCase()}`,
      `/cas/sha256/${smallRef.sha256}?download=1`,
      `/cas/sha256/${smallRef.sha256}/`,
      `//cas/sha256/${smallRef.sha256}`,
      `/cas/sha256/${smallRef.sha256}%00`,
      "/",
    ]) {
      expect([bad, await status(bad)]).toEqual([bad, 400]);
    }
    expect(await status(`/cas/sha256/${partialOnly.sha256}`)).toBe(404);
    expect(await status(`/cas/sha256/${linked}`)).toBe(404);
    expect(await status(`/cas/sha256/${"0".repeat(64)}`)).toBe(404);
    expect((await raw(depot.port, `/cas/sha256/${smallRef.sha256}`, node1, { method: "POST" })).status).toBe(
      405,
    );
  });

  it("answers HEAD, single ranges (206), and 416 past the end", async () => {
    const url = `/cas/sha256/${smallRef.sha256}`;
    const head = await raw(depot.port, url, node1, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(small.byteLength));
    expect(head.headers["content-type"]).toBe("application/octet-stream");
    expect(head.body.byteLength).toBe(0);

    const part = await raw(depot.port, url, node1, { headers: { Range: "bytes=10-19" } });
    expect(part.status).toBe(206);
    expect(part.headers["content-range"]).toBe(`bytes 10-19/${small.byteLength}`);
    expect(part.body).toEqual(small.subarray(10, 20));

    const tail = await raw(depot.port, url, node1, { headers: { Range: "bytes=4000-" } });
    expect(tail.status).toBe(206);
    expect(tail.body).toEqual(small.subarray(4000));

    const past = await raw(depot.port, url, node1, { headers: { Range: `bytes=${small.byteLength}-` } });
    expect(past.status).toBe(416);
    expect(past.headers["content-range"]).toBe(`bytes */${small.byteLength}`);

    // Several ranges or a suffix range are not supported: the whole file is sent.
    const whole = await raw(depot.port, url, node1, { headers: { Range: "bytes=0-1,5-6" } });
    expect(whole.status).toBe(200);
    expect(whole.body).toEqual(small);
  });

  it("groundcrew-agent depot serve runs the depot from its config file until stopped", async () => {
    const conf = path.join(dir, "depot-cli");
    await mkdir(conf, { mode: 0o700 });
    const tls = {
      ca: path.join(conf, "ca.pem"),
      cert: path.join(conf, "cert.pem"),
      key: path.join(conf, "key.pem"),
    };
    await writeFile(tls.ca, depot1.caPem, { mode: 0o600 });
    await writeFile(tls.cert, depot1.certPem, { mode: 0o600 });
    await writeFile(tls.key, depot1.keyPem, { mode: 0o600 });
    const config: DepotConfig = {
      port: 0,
      bind: "127.0.0.1",
      root: path.join(dir, "depot"),
      tls,
      allowedHosts: ["node1"],
    };
    const file = path.join(conf, "depot.json");
    await writeFile(file, JSON.stringify(config));
    let stop = (): void => undefined;
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
    });
    let out = "";
    const running = main(
      ["/opt/groundcrew-agent", "/opt/groundcrew-agent", "depot", "serve", "--config", file],
      {
        exec: fakeExec({}),
        fs: localFs,
        stdout: (text) => {
          out += text;
        },
        stderr: () => undefined,
        untilStopped: () => stopped,
      },
    );
    await expect.poll(() => out).toContain("\n");
    const { port } = z
      .object({ depot: z.literal("listening"), port: z.number() })
      .strict()
      .parse(JSON.parse(out));
    const store = freshClient();
    const source = { ...depotSource, url: `https://127.0.0.1:${port}` };
    expect(
      (await fetchArtifact({ ref: smallRef, store, sources: [source], tls: clientTls(node1) })).servedBy,
    ).toBe("depot depot1");
    stop();
    expect(await running).toBe(0);
    const after = await fetchFailure({ ref: bigRef, store, sources: [source], tls: clientTls(node1) });
    expect(after.message).toContain("ECONNREFUSED");

    await writeFile(file, JSON.stringify({ ...config, allowedHosts: [], extra: 1 }));
    let err = "";
    const refused = await main(
      ["/opt/groundcrew-agent", "/opt/groundcrew-agent", "depot", "serve", "--config", file],
      {
        exec: fakeExec({}),
        fs: localFs,
        stdout: () => undefined,
        stderr: (text) => {
          err += text;
        },
        untilStopped: () => Promise.resolve(),
      },
    );
    expect(refused).toBe(1);
    expect(err).toMatch(/^groundcrew-agent: depot config .*depot\.json: invalid message at /);
  });
});
