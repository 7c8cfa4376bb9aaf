import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openImageArchive, type ImageArchive } from "../../agent/registry/image-archive.js";
import { MANIFEST_ACCEPT } from "../../agent/registry/oci-types.js";
import {
  missingImages,
  registryAnswers,
  seedArchive,
  type RegistryTarget,
} from "../../agent/registry/registry-client.js";
import { isGroundcrewError } from "../../shared/errors.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";
import { writeArchive } from "../support/registry-archives.js";
import {
  attestationDescriptor,
  attestationOf,
  descriptorOf,
  docker25Members,
  imageBlobs,
  legacyMembers,
  ociLayoutMembers,
  platformDescriptor,
  testIndex,
  testImage,
  type TestImage,
} from "../support/registry-images.js";
import { extractRegistry, scratchDir, startRegistry, type RealRegistry } from "../support/registry-server.js";

const run = promisify(execFile);

/*
 * Seeds a real CNCF distribution (Debian's docker-registry 2.8.2, extracted
 * from test/fixtures/debs) on 127.0.0.1 from archives of every format, then
 * checks what the registry serves with plain fetch, not with the client.
 */
let dir: string;
let binary: string;
let registry: RealRegistry;
let tlsWorld: TlsWorld | undefined;
const opened: ImageArchive[] = [];

beforeAll(async () => {
  dir = await scratchDir();
  binary = await extractRegistry(path.join(dir, "deb"));
  registry = await startRegistry(binary, dir);
  await mkdir(path.join(dir, "tmp"));
});

afterAll(async () => {
  for (const archive of opened) await archive.close();
  await registry.stop();
  await tlsWorld?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function open(file: string): Promise<ImageArchive> {
  const archive = await openImageArchive(file, { tmpDir: path.join(dir, "tmp") });
  opened.push(archive);
  return archive;
}

async function tags(repository: string): Promise<string[]> {
  const response = await fetch(`${registry.url}/v2/${repository}/tags/list`);
  if (response.status === 404) return [];
  const body: unknown = await response.json();
  const list = typeof body === "object" && body !== null && "tags" in body ? body.tags : undefined;
  return Array.isArray(list) ? list.map(String) : [];
}

/** The manifest a tag serves (with the full Accept): its digest and exact bytes. */
async function served(
  repository: string,
  reference: string,
): Promise<{ digest: string | null; bytes: Buffer }> {
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, {
    headers: { Accept: MANIFEST_ACCEPT },
  });
  expect(response.status).toBe(200);
  return {
    digest: response.headers.get("docker-content-digest"),
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

async function blobStatus(repository: string, digest: string): Promise<number> {
  return (await fetch(`${registry.url}/v2/${repository}/blobs/${digest}`, { method: "HEAD" })).status;
}

async function expectImage(
  repository: string,
  tag: string,
  image: TestImage,
  tagged = image.manifest,
): Promise<void> {
  expect(await tags(repository)).toContain(tag);
  const manifest = await served(repository, tag);
  expect(manifest.digest).toBe(tagged.digest);
  expect(manifest.bytes).toEqual(tagged.bytes);
  for (const blob of [image.config, ...image.layers])
    expect(await blobStatus(repository, blob.digest)).toBe(200);
}

/** Seeds `file`, checks nothing is missing, then seeds it again: everything is skipped. */
async function seedTwice(file: string): Promise<ImageArchive> {
  const target: RegistryTarget = { url: registry.url };
  const archive = await open(file);
  const first = await seedArchive(target, archive);
  expect(first.manifestsPushed).toBeGreaterThan(0);
  expect(await missingImages(target, archive)).toEqual([]);
  const second = await seedArchive(target, await open(file));
  expect(second).toMatchObject({ blobsPushed: 0, blobsMounted: 0, manifestsPushed: 0, bytesPushed: 0 });
  expect(second.blobsSkipped).toBeGreaterThan(0);
  return archive;
}

describe("seeding a real distribution registry", () => {
  it("answers GET /v2/ as registry/2.0", async () => {
    expect(await registryAnswers({ url: registry.url })).toBe(true);
  });

  it("seeds a legacy docker save (synthesized OCI manifest, shared layers)", async () => {
    const app = testImage("legacy-app", { layers: 3 });
    const tool = testImage("legacy-app", { layers: 1 });
    const file = await writeArchive(
      dir,
      "legacy.tar",
      legacyMembers([
        { image: app, repoTags: ["legacy/app:1", "legacy/app:latest"] },
        { image: tool, repoTags: ["registry.k8s.io/tool:2"] },
      ]),
    );
    const archive = await seedTwice(file);
    const manifest = archive.images[0]!.manifests[0]!;
    expect(await tags("legacy/app")).toEqual(expect.arrayContaining(["1", "latest"]));
    const tagged = { ...app.manifest, digest: manifest.digest, bytes: Buffer.from(manifest.bytes) };
    await expectImage("legacy/app", "1", app, tagged);
    expect(await blobStatus("tool", tool.layers[0]!.digest)).toBe(200);
  });

  it("seeds docker save from Docker >= 25 and its .tar.gz", async () => {
    const image = testImage("d25");
    await seedTwice(
      await writeArchive(dir, "d25.tar", docker25Members([{ image, name: "docker.io/library/d25:1" }])),
    );
    await expectImage("library/d25", "1", image);
    const gz = testImage("d25gz", { gzip: true });
    await seedTwice(
      await writeArchive(dir, "d25.tar.gz", docker25Members([{ image: gz, name: "d25gz:2" }]), {
        gzip: true,
      }),
    );
    await expectImage("library/d25gz", "2", gz);
  });

  it("seeds a complete multi-platform index as read, attestation included", async () => {
    const amd64 = testImage("full", { architecture: "amd64", gzip: true });
    const arm64 = testImage("full", { architecture: "arm64", gzip: true });
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
    const entry = descriptorOf(index, { annotations: { "io.containerd.image.name": "ghcr.io/org/full:v1" } });
    await seedTwice(await writeArchive(dir, "full.tar", ociLayoutMembers([entry], blobs)));
    await expectImage("org/full", "v1", amd64, index);
    expect((await served("org/full", arm64.manifest.digest)).bytes).toEqual(arm64.manifest.bytes);
  });

  it("seeds only the present platform of a partial index (distribution 2.8 refuses the index)", async () => {
    const amd64 = testImage("part", { architecture: "amd64" });
    const arm64 = testImage("part", { architecture: "arm64" });
    const attestation = attestationOf(amd64);
    const index = testIndex([
      platformDescriptor(amd64),
      platformDescriptor(arm64),
      attestationDescriptor(attestation, amd64),
    ]);
    const entry = descriptorOf(index, {
      annotations: { "io.containerd.image.name": "docker.io/org/part:v1" },
    });
    await seedTwice(
      await writeArchive(
        dir,
        "part.tar",
        ociLayoutMembers([entry], [index, ...imageBlobs(amd64), attestation.manifest]),
      ),
    );
    await expectImage("org/part", "v1", amd64);
  });

  it("refuses a corrupted layer and tags nothing", async () => {
    const image = testImage("corrupt", { layers: 2 });
    const file = await writeArchive(
      dir,
      "corrupt.tar",
      legacyMembers([{ image, repoTags: ["corrupt/app:1"] }]),
    );
    const tar = await readFile(file);
    const at = tar.indexOf(image.layers[1]!.bytes);
    const text = tar.indexOf("corrupt amd64 layer 1", at);
    expect(at).toBeGreaterThan(0);
    tar[text] = "C".charCodeAt(0);
    await writeFile(file, tar);
    const error: unknown = await seedArchive({ url: registry.url }, await open(file)).catch(
      (e: unknown) => e,
    );
    expect(isGroundcrewError(error, "IMAGE_ARCHIVE_INVALID")).toBe(true);
    expect(String(error)).toContain(`${file}: blob ${image.layers[1]!.digest} is damaged`);
    expect(await tags("corrupt/app")).toEqual([]);
    expect(await blobStatus("corrupt/app", image.layers[1]!.digest)).toBe(404);
    expect(await missingImages({ url: registry.url }, await open(file))).toEqual(["corrupt/app:1"]);
  });

  it("agrees with skopeo, an independent client (scripts/setup installs it)", async () => {
    const { stdout } = await run("skopeo", [
      "inspect",
      "--tls-verify=false",
      `docker://127.0.0.1:${registry.port}/library/d25:1`,
    ]);
    const inspected: unknown = JSON.parse(stdout);
    expect(inspected).toMatchObject({ Name: `127.0.0.1:${registry.port}/library/d25` });
  });
});

describe("seeding over TLS", () => {
  let secure: RealRegistry;
  beforeAll(async () => {
    tlsWorld = await makeTlsWorld();
    secure = await startRegistry(binary, dir, tlsWorld.server);
  });
  afterAll(async () => {
    await secure.stop();
  });

  it("trusts only the given CA, and checks serverName when given", async () => {
    const ca = tlsWorld!.caPem;
    expect(await registryAnswers({ url: secure.url, ca })).toBe(true);
    expect(await registryAnswers({ url: secure.url })).toBe(false);
    const foreign = await tlsWorld!.foreign();
    expect(await registryAnswers({ url: secure.url, ca: foreign.caPem })).toBe(false);
    expect(await registryAnswers({ url: secure.url, ca, serverName: "localhost" })).toBe(true);
    expect(await registryAnswers({ url: secure.url, ca, serverName: "depot.example" })).toBe(false);

    const image = testImage("tls");
    const archive = await open(
      await writeArchive(dir, "tls.tar", docker25Members([{ image, name: "tls/app:1" }])),
    );
    const error: unknown = await seedArchive({ url: secure.url }, archive).catch((e: unknown) => e);
    expect(isGroundcrewError(error, "REGISTRY_UNREACHABLE")).toBe(true);
    const result = await seedArchive({ url: secure.url, ca }, archive);
    expect(result).toMatchObject({ images: ["tls/app:1"], blobsPushed: 3, manifestsPushed: 1 });
    expect(await missingImages({ url: secure.url, ca, serverName: "localhost" }, archive)).toEqual([]);
  });
});
