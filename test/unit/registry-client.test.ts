import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openImageArchive, type ImageArchive } from "../../agent/registry/image-archive.js";
import { MANIFEST_ACCEPT, MEDIA_TYPES } from "../../agent/registry/oci-types.js";
import { missingImages, registryAnswers, seedArchive } from "../../agent/registry/registry-client.js";
import { send } from "../../agent/registry/registry-http.js";
import { isGroundcrewError, type ErrorCode } from "../../shared/errors.js";
import { writeArchive } from "../support/registry-archives.js";
import { startFakeRegistry, type FakeRegistry } from "../support/registry-fake.js";
import {
  attestationDescriptor,
  attestationOf,
  descriptorOf,
  imageBlobs,
  legacyMembers,
  ociLayoutMembers,
  platformDescriptor,
  testIndex,
  testImage,
} from "../support/registry-images.js";

let dir: string;
let fake: FakeRegistry;
const opened: ImageArchive[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gc-registry-client-"));
  fake = await startFakeRegistry();
});
afterEach(async () => {
  for (const archive of opened.splice(0)) await archive.close();
  await fake.stop();
  await rm(dir, { recursive: true, force: true });
});

async function open(file: string): Promise<ImageArchive> {
  const archive = await openImageArchive(file, { tmpDir: dir });
  opened.push(archive);
  return archive;
}

async function refused(promise: Promise<unknown>, code: ErrorCode): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isGroundcrewError(error, code)) throw new Error(`expected ${code}, got ${String(error)}`);
  return error.message;
}

const app = testImage("app", { layers: 3 });
const tool = testImage("app", { layers: 1 }); // shares app's first layer

async function legacyArchive(name = "legacy.tar"): Promise<string> {
  return writeArchive(
    dir,
    name,
    legacyMembers([
      { image: app, repoTags: ["app:1"] },
      { image: tool, repoTags: ["ghcr.io/org/tool:2"] },
    ]),
  );
}

describe("seedArchive", () => {
  it("uploads blobs with POST then PUT Location&digest, then manifests with their exact bytes; a re-run skips all", async () => {
    const archive = await open(await legacyArchive());
    const target = { url: fake.url };
    expect(await missingImages(target, archive)).toEqual(["library/app:1", "org/tool:2"]);
    const progress: number[] = [];
    const result = await seedArchive(target, archive, (p) => progress.push(p.bytesDone));
    expect(result).toEqual({
      images: ["library/app:1", "org/tool:2"],
      blobsPushed: 5, // app: config + 3 layers; tool: config (its layer is mounted from library/app)
      blobsSkipped: 0,
      blobsMounted: 1,
      manifestsPushed: 2,
      manifestsSkipped: 0,
      bytesPushed: [app.config, ...app.layers, tool.config].reduce((sum, blob) => sum + blob.size, 0),
    });
    expect(progress.at(-1)).toBe(result.bytesPushed + tool.layers[0]!.size);

    const puts = fake.log.filter((r) => r.method === "PUT");
    const blobPuts = puts.filter((r) => r.url.includes("/blobs/uploads/"));
    expect(blobPuts).toHaveLength(5);
    for (const put of blobPuts) {
      expect(put.url).toMatch(
        /^\/v2\/.+\/blobs\/uploads\/u\d+\?_state=abc%2Bdef%2F%3D%3D&digest=sha256%3A[0-9a-f]{64}$/,
      );
      expect(put.headers["content-type"]).toBe("application/octet-stream");
      expect(Number(put.headers["content-length"])).toBe(put.received);
    }
    const mount = fake.log.find((r) => r.url.includes("mount="));
    expect(mount?.url).toBe(
      `/v2/org/tool/blobs/uploads/?mount=${encodeURIComponent(app.layers[0]!.digest)}&from=library%2Fapp`,
    );
    // Every blob operation comes before the first manifest PUT.
    const firstManifest = fake.log.findIndex((r) => r.url.includes("/manifests/") && r.method === "PUT");
    expect(fake.log.slice(firstManifest).some((r) => r.url.includes("/blobs/"))).toBe(false);
    const manifestPut = fake.log[firstManifest]!;
    expect(manifestPut.url).toBe("/v2/library/app/manifests/1");
    expect(manifestPut.headers["content-type"]).toBe(MEDIA_TYPES.ociManifest);
    expect(fake.tags.get("library/app")?.get("1")).toBe(archive.images[0]!.manifests[0]!.digest);
    const heads = fake.log.filter((r) => r.method === "HEAD" && r.url.includes("/manifests/"));
    for (const head of heads) expect(head.headers.accept).toBe(MANIFEST_ACCEPT);

    expect(await missingImages(target, archive)).toEqual([]);
    const again = await seedArchive(target, await open(await legacyArchive("legacy-again.tar")));
    expect(again).toMatchObject({
      blobsPushed: 0,
      blobsMounted: 0,
      blobsSkipped: 6,
      manifestsPushed: 0,
      manifestsSkipped: 2,
      bytesPushed: 0,
    });
  });

  it("pushes an index's children by digest before the index under its tag", async () => {
    const amd64 = testImage("multi", { architecture: "amd64" });
    const arm64 = testImage("multi", { architecture: "arm64" });
    const attestation = attestationOf(amd64);
    const index = testIndex([
      platformDescriptor(amd64),
      platformDescriptor(arm64),
      attestationDescriptor(attestation, amd64),
    ]);
    const blobs = [
      index,
      ...imageBlobs(amd64),
      ...imageBlobs(arm64),
      attestation.manifest,
      ...attestation.blobs,
    ];
    const entry = descriptorOf(index, {
      annotations: { "io.containerd.image.name": "docker.io/org/multi:v1" },
    });
    const archive = await open(await writeArchive(dir, "index.tar", ociLayoutMembers([entry], blobs)));
    const result = await seedArchive({ url: fake.url }, archive);
    expect(result.manifestsPushed).toBe(4);
    const manifestPuts = fake.log.filter((r) => r.method === "PUT" && r.url.includes("/manifests/"));
    expect(manifestPuts.map((r) => r.url)).toEqual([
      `/v2/org/multi/manifests/${amd64.manifest.digest}`,
      `/v2/org/multi/manifests/${arm64.manifest.digest}`,
      `/v2/org/multi/manifests/${attestation.manifest.digest}`,
      "/v2/org/multi/manifests/v1",
    ]);
    expect(manifestPuts.at(-1)!.headers["content-type"]).toBe(MEDIA_TYPES.ociIndex);
    expect(fake.tags.get("org/multi")?.get("v1")).toBe(index.digest);
  });

  it("refuses a damaged layer: the upload is cancelled before its last bytes and nothing is tagged", async () => {
    const big = testImage("big", { layers: 1 });
    const layer = Buffer.alloc(300_000, 7);
    const image = { ...big, layers: [{ ...big.layers[0]!, bytes: layer }] };
    // The config's diff_id is for another content: as if layer.tar were damaged after docker save.
    const file = await writeArchive(dir, "damaged.tar", legacyMembers([{ image, repoTags: ["big:1"] }]));
    const archive = await open(file);
    const message = await refused(seedArchive({ url: fake.url }, archive), "IMAGE_ARCHIVE_INVALID");
    expect(message).toContain(`${file}: blob ${big.layers[0]!.digest} is damaged`);
    const put = fake.log.find(
      (r) => r.method === "PUT" && r.url.includes(encodeURIComponent(big.layers[0]!.digest)),
    )!;
    expect(put.received).toBeLessThan(layer.length);
    expect(
      fake.log.some((r) => r.method === "DELETE" && r.url.startsWith("/v2/library/big/blobs/uploads/u")),
    ).toBe(true);
    expect(fake.log.some((r) => r.url.includes("/manifests/") && r.method === "PUT")).toBe(false);
    expect(fake.tags.size).toBe(0);
  });

  it("reports the registry's status and error code", async () => {
    const archive = await open(await legacyArchive());
    // The registry claims every blob is there, then refuses the manifest for lacking them.
    fake.intercept = (req) =>
      req.method === "HEAD" && req.url?.includes("/blobs/") ? { status: 200 } : undefined;
    const message = await refused(seedArchive({ url: fake.url }, archive), "REGISTRY_PUSH_FAILED");
    expect(message).toMatch(
      /^PUT manifest library\/app:1 \(sha256:[0-9a-f]{64}\): HTTP 400 MANIFEST_BLOB_UNKNOWN/,
    );
  });

  it("follows an absolute Location on the registry's origin and refuses one elsewhere", async () => {
    const archive = await open(await legacyArchive());
    fake.locationOrigin = fake.url;
    expect((await seedArchive({ url: fake.url }, archive)).blobsPushed).toBe(5);
    fake.locationOrigin = "http://127.0.0.2:1";
    const other = await open(
      await writeArchive(dir, "other.tar", legacyMembers([{ image: testImage("o"), repoTags: ["o:1"] }])),
    );
    expect(await refused(seedArchive({ url: fake.url }, other), "REGISTRY_PUSH_FAILED")).toContain(
      "another server",
    );
  });

  it("refuses a target URL with a path, credentials or a CA on plain HTTP", async () => {
    const archive = await open(await legacyArchive());
    for (const target of [
      { url: `${fake.url}/v2` },
      { url: "http://user:pw@127.0.0.1:1" },
      { url: fake.url, ca: "PEM" },
      { url: "ftp://x" },
    ]) {
      expect(await refused(seedArchive(target, archive), "REGISTRY_UNREACHABLE")).not.toContain("pw");
    }
  });
});

describe("registryAnswers and timeouts", () => {
  /** Accepts connections and never answers. */
  async function silentServer(): Promise<{ url: string; stop: () => Promise<void> }> {
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    return {
      url: `http://127.0.0.1:${port}`,
      stop: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => {
            resolve();
          });
        }),
    };
  }

  it("is true for a registry, false for anything else", async () => {
    expect(await registryAnswers({ url: fake.url })).toBe(true);
    fake.intercept = () => ({ status: 200, body: "{}" });
    expect(await registryAnswers({ url: fake.url })).toBe(false);
    const silent = await silentServer();
    await silent.stop();
    expect(await registryAnswers({ url: silent.url })).toBe(false);
  });

  it("never waits past the deadline", async () => {
    const silent = await silentServer();
    try {
      const started = Date.now();
      const url = new URL("/v2/", silent.url);
      const message = await refused(
        send({ url: silent.url }, { method: "GET", url, deadlineMs: 300 }),
        "REGISTRY_UNREACHABLE",
      );
      expect(message).toContain("ETIMEDOUT");
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await silent.stop();
    }
  });

  it("surfaces a refused connection as REGISTRY_UNREACHABLE, retryable", async () => {
    const archive = await open(await legacyArchive());
    const error: unknown = await missingImages({ url: "http://127.0.0.1:1" }, archive).catch(
      (e: unknown) => e,
    );
    expect(isGroundcrewError(error, "REGISTRY_UNREACHABLE") && error.retryable).toBe(true);
  });
});
