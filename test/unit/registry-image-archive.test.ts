import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openImageArchive, type ImageArchive } from "../../agent/registry/image-archive.js";
import { MEDIA_TYPES } from "../../agent/registry/oci-types.js";
import { localExec } from "../../agent/host/local-exec.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { isGroundcrewError, type ErrorCode } from "../../shared/errors.js";
import { blobBytes, writeArchive } from "../support/registry-archives.js";
import {
  attestationDescriptor,
  attestationOf,
  descriptorOf,
  docker25Members,
  imageBlobs,
  legacyMembers,
  ociLayoutMembers,
  platformDescriptor,
  sha256,
  testIndex,
  testImage,
} from "../support/registry-images.js";

let dir: string;
let scratch: string;
const opened: ImageArchive[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gc-image-archive-"));
  scratch = path.join(dir, "scratch");
  await mkdir(scratch);
});
afterEach(async () => {
  for (const archive of opened.splice(0)) await archive.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(
  file: string,
  options: Partial<Parameters<typeof openImageArchive>[1]> = {},
): Promise<ImageArchive> {
  const archive = await openImageArchive(file, { tmpDir: scratch, ...options });
  opened.push(archive);
  return archive;
}

/** The message of the GroundcrewError `promise` rejects with; fails unless its code is `code`. */
async function refused(promise: Promise<unknown>, code: ErrorCode): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isGroundcrewError(error, code)) throw new Error(`expected ${code}, got ${String(error)}`);
  return error.message;
}

const summary = (archive: ImageArchive): unknown =>
  archive.images.map((image) => ({
    name: `${image.repository}:${image.tag}`,
    manifests: image.manifests.map((manifest) => manifest.digest),
    blobs: image.blobs.map((blob) => blob.digest),
  }));

describe("openImageArchive: legacy docker save", () => {
  const app = testImage("app");
  // Same seed, one layer: tool's only layer is app's first; docker save links it as ../<id>/layer.tar.
  const tool = testImage("app", { layers: 1 });

  it("synthesizes one deterministic OCI manifest per image, config and layers unchanged", async () => {
    const file = await writeArchive(
      dir,
      "legacy.tar",
      legacyMembers([
        { image: app, repoTags: ["docker.io/library/app:1.0", "app:latest"] },
        { image: tool, repoTags: ["registry.k8s.io/tool:v2"] },
      ]),
    );
    const archive = await open(file);
    expect(archive.images.map((image) => `${image.repository}:${image.tag}`)).toEqual([
      "library/app:1.0",
      "library/app:latest",
      "tool:v2",
    ]);
    const [first, , third] = archive.images;
    expect(first!.blobs).toEqual([
      { digest: app.config.digest, size: app.config.size, mediaType: MEDIA_TYPES.ociConfig },
      ...app.layers.map((layer) => ({
        digest: layer.digest,
        size: layer.size,
        mediaType: MEDIA_TYPES.ociLayerTar,
      })),
    ]);
    const manifest = first!.manifests[0]!;
    expect(first!.manifests).toHaveLength(1);
    expect(manifest.mediaType).toBe(MEDIA_TYPES.ociManifest);
    expect(manifest.digest).toBe(sha256(manifest.bytes));
    expect(JSON.parse(Buffer.from(manifest.bytes).toString())).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: app.config.digest, size: app.config.size },
      layers: app.layers.map((layer) => ({
        mediaType: MEDIA_TYPES.ociLayerTar,
        digest: layer.digest,
        size: layer.size,
      })),
    });
    expect(await blobBytes(archive, app.config.digest)).toEqual(app.config.bytes);
    // The linked layer streams the bytes of the entry it points at.
    expect(third!.blobs[1]!.digest).toBe(app.layers[0]!.digest);
    expect(await blobBytes(archive, app.layers[0]!.digest)).toEqual(app.layers[0]!.bytes);

    const again = await open(file);
    expect(summary(again)).toEqual(summary(archive));
  });

  it("hashes gzip layers written by other tools in this format", async () => {
    const gz = gzipSync(app.layers[1]!.bytes);
    const members = legacyMembers([{ image: app, repoTags: ["app:gz"] }]).map((member) =>
      member.body !== undefined && Buffer.from(member.body).equals(app.layers[1]!.bytes)
        ? { ...member, body: gz }
        : member,
    );
    const archive = await open(await writeArchive(dir, "gz-layers.tar", members));
    expect(archive.images[0]!.blobs[2]).toEqual({
      digest: sha256(gz),
      size: gz.length,
      mediaType: `${MEDIA_TYPES.ociLayerTar}+gzip`,
    });
  });

  it("refuses an untagged image, a bad tag, a missing layer and mismatched diff_ids", async () => {
    expect(
      await refused(
        open(await writeArchive(dir, "untagged.tar", legacyMembers([{ image: app, repoTags: null }]))),
        "IMAGE_REFERENCE_INVALID",
      ),
    ).toMatch(/untagged\.tar: manifest\.json\[0\] has no RepoTags/);
    expect(
      await refused(
        open(
          await writeArchive(dir, "badtag.tar", legacyMembers([{ image: app, repoTags: ["app:bad tag"] }])),
        ),
        "IMAGE_REFERENCE_INVALID",
      ),
    ).toContain("badtag.tar: manifest.json[0] RepoTags");
    const withoutLayer = legacyMembers([{ image: app, repoTags: ["app:1"] }]).filter(
      (member) =>
        !member.name.endsWith("layer.tar") ||
        member.body === undefined ||
        !Buffer.from(member.body).equals(app.layers[1]!.bytes),
    );
    expect(
      await refused(open(await writeArchive(dir, "nolayer.tar", withoutLayer)), "IMAGE_ARCHIVE_INVALID"),
    ).toMatch(/nolayer\.tar: entry ".*\/layer\.tar": lacks the layer/);
    const fewer = { ...app, layers: [app.layers[0]!] };
    const wrongConfig = legacyMembers([{ image: { ...fewer, config: app.config }, repoTags: ["app:1"] }]);
    await expect(open(await writeArchive(dir, "diffids.tar", wrongConfig))).rejects.toThrow(
      /lists 2 diff_ids but manifest\.json\[0\] lists 1 layers/,
    );
  });
});

describe("openImageArchive: Docker >= 25 and OCI layouts", () => {
  const amd64 = testImage("multi", { architecture: "amd64" });
  const arm64 = testImage("multi", { architecture: "arm64" });
  const attestation = attestationOf(amd64);
  const index = testIndex([
    platformDescriptor(amd64),
    platformDescriptor(arm64),
    attestationDescriptor(attestation, amd64),
  ]);
  const named = (name: string): Record<string, string> => ({
    "io.containerd.image.name": name,
    "org.opencontainers.image.ref.name": name.split(":").at(-1)!,
  });

  it("reads docker save from Docker >= 25 through its OCI index, manifest bytes exact", async () => {
    const app = testImage("d25");
    const archive = await open(
      await writeArchive(dir, "d25.tar", docker25Members([{ image: app, name: "docker.io/library/d25:1" }])),
    );
    expect(summary(archive)).toEqual([
      {
        name: "library/d25:1",
        manifests: [app.manifest.digest],
        blobs: [app.config.digest, ...app.layers.map((l) => l.digest)],
      },
    ]);
    expect(Buffer.from(archive.images[0]!.manifests[0]!.bytes)).toEqual(app.manifest.bytes);
    expect(archive.images[0]!.manifests[0]!.mediaType).toBe(MEDIA_TYPES.ociManifest);
  });

  it("pushes a complete nested index as read: children by digest first, attestation included, the index last", async () => {
    const blobs = [
      index,
      ...imageBlobs(amd64),
      ...imageBlobs(arm64),
      attestation.manifest,
      ...attestation.blobs,
    ];
    const archive = await open(
      await writeArchive(
        dir,
        "complete.tar",
        ociLayoutMembers([descriptorOf(index, { annotations: named("ghcr.io/org/multi:v1") })], blobs),
      ),
    );
    const image = archive.images[0]!;
    expect(`${image.repository}:${image.tag}`).toBe("org/multi:v1");
    expect(image.manifests.map((m) => m.digest)).toEqual([
      amd64.manifest.digest,
      arm64.manifest.digest,
      attestation.manifest.digest,
      index.digest,
    ]);
    expect(image.manifests.at(-1)!.mediaType).toBe(MEDIA_TYPES.ociIndex);
    expect(image.blobs.map((b) => b.digest)).toEqual(
      expect.arrayContaining([amd64.config.digest, arm64.layers[1]!.digest, attestation.blobs[1]!.digest]),
    );
  });

  it("reduces a partial multi-platform index (a platform absent) to the linux/amd64 manifest, skipping the attestation", async () => {
    // docker save from the containerd store: the index, one platform, and the attestation manifest without its blobs.
    const blobs = [index, ...imageBlobs(amd64), attestation.manifest];
    const outer = testIndex([descriptorOf(index, { annotations: named("docker.io/library/multi:2") })]);
    const archive = await open(
      await writeArchive(
        dir,
        "partial.tar",
        ociLayoutMembers(
          [descriptorOf(outer, { annotations: named("docker.io/library/multi:2") })],
          [outer, ...blobs],
        ),
      ),
    );
    expect(summary(archive)).toEqual([
      {
        name: "library/multi:2",
        manifests: [amd64.manifest.digest],
        blobs: [amd64.config.digest, ...amd64.layers.map((l) => l.digest)],
      },
    ]);
    expect(Buffer.from(archive.images[0]!.manifests[0]!.bytes)).toEqual(amd64.manifest.bytes);
  });

  it("takes the single platform present, or the one asked for, and refuses an ambiguous choice", async () => {
    const entry = [descriptorOf(index, { annotations: named("multi:3") })];
    const onlyArm = await open(
      await writeArchive(dir, "arm.tar", ociLayoutMembers(entry, [index, ...imageBlobs(arm64)])),
    );
    expect(onlyArm.images[0]!.manifests.map((m) => m.digest)).toEqual([arm64.manifest.digest]);

    const both = await writeArchive(
      dir,
      "both.tar",
      ociLayoutMembers(entry, [index, ...imageBlobs(amd64), ...imageBlobs(arm64)]),
    );
    const asked = await open(both, { platform: { os: "linux", architecture: "arm64" } });
    expect(asked.images[0]!.manifests.map((m) => m.digest)).toEqual([arm64.manifest.digest]);
    expect(
      await refused(
        open(both, { platform: { os: "linux", architecture: "s390x" } }),
        "IMAGE_ARCHIVE_INVALID",
      ),
    ).toMatch(
      /both\.tar: entry "index\.json manifests\[0\] \(library\/multi:3\)": is a partial multi-platform index without a linux\/s390x manifest.*linux\/amd64, linux\/arm64/,
    );
  });

  it("accepts Docker manifest lists and Docker v2 manifests", async () => {
    const docker = testImage("dk", { docker: true, gzip: true });
    const list = testIndex([platformDescriptor(docker)], MEDIA_TYPES.dockerList);
    const archive = await open(
      await writeArchive(
        dir,
        "dk.tar",
        ociLayoutMembers([descriptorOf(list, { annotations: named("dk:1") })], [list, ...imageBlobs(docker)]),
      ),
    );
    expect(archive.images[0]!.manifests.map((m) => m.mediaType)).toEqual([
      MEDIA_TYPES.dockerManifest,
      MEDIA_TYPES.dockerList,
    ]);
  });

  it("decompresses a .tar.gz under tmpDir and removes the copy on close", async () => {
    const app = testImage("gz");
    const file = await writeArchive(dir, "app.tar.gz", docker25Members([{ image: app, name: "gz:1" }]), {
      gzip: true,
    });
    const archive = await openImageArchive(file, { tmpDir: scratch });
    expect(await readdir(scratch)).toHaveLength(1);
    expect(await blobBytes(archive, app.layers[0]!.digest)).toEqual(app.layers[0]!.bytes);
    await archive.close();
    expect(await readdir(scratch)).toEqual([]);
    expect(() => archive.openBlob(app.layers[0]!.digest)).toThrow(/closed/);
  });

  it("decompresses a .tar.zst with the host's zstd through Exec, and refuses one without Exec", async () => {
    const app = testImage("zst");
    const tar = await writeArchive(dir, "app.tar", docker25Members([{ image: app, name: "zst:1" }]));
    const zst = path.join(dir, "app.tar.zst");
    const made = await localExec.run(["zstd", "-q", "-o", zst, tar]).catch(() => undefined);
    if (made?.code !== 0) {
      // The agent only needs zstd for k3s airgap images; scripts/setup installs it on dev machines.
      expect.fail("zstd is not installed here: install it (apt-get install zstd) to run this test");
    }
    expect(await refused(open(zst), "IMAGE_ARCHIVE_INVALID")).toContain("no Exec");
    const archive = await open(zst, { exec: localExec });
    expect(archive.images[0]!.tag).toBe("1");
    expect(await blobBytes(archive, app.layers[1]!.digest)).toEqual(app.layers[1]!.bytes);
    const missing = fakeExec({});
    expect(await refused(open(zst, { exec: missing }), "HOST_COMMAND_FAILED")).toContain(
      "zstd is not installed",
    );
    expect(missing.calls[0]!.argv.slice(0, 6)).toEqual([
      "zstd",
      "-d",
      "-q",
      "-f",
      "-o",
      expect.stringMatching(/groundcrew-image-.*\/archive\.tar$/),
    ]);
    expect(await readdir(scratch)).toHaveLength(1); // the open archive's copy only
  });

  it("refuses a corrupt gzip stream, leaving no scratch copy", async () => {
    const file = path.join(dir, "bad.tar.gz");
    const gz = gzipSync(Buffer.alloc(4096, 1));
    gz.writeUInt8(gz.readUInt8(gz.length - 6) ^ 0xff, gz.length - 6);
    await writeFile(file, gz);
    expect(await refused(open(file), "IMAGE_ARCHIVE_INVALID")).toContain("bad.tar.gz");
    expect(await readdir(scratch)).toEqual([]);
  });

  it("refuses a missing layer, a manifest that does not match its digest and names without a repository", async () => {
    const app = testImage("bad");
    const entry = (annotations: Record<string, string>): Record<string, unknown>[] => [
      descriptorOf(app.manifest, { annotations }),
    ];
    const noLayer = ociLayoutMembers(entry(named("bad:1")), [app.manifest, app.config, app.layers[0]!]);
    expect(
      await refused(open(await writeArchive(dir, "nolayer.tar", noLayer)), "IMAGE_ARCHIVE_INVALID"),
    ).toContain(
      `nolayer.tar: entry "index.json manifests[0]": lacks blob ${app.layers[1]!.digest} of library/bad:1`,
    );
    const noManifest = ociLayoutMembers(entry(named("bad:1")), [app.config, ...app.layers]);
    await expect(open(await writeArchive(dir, "nomanifest.tar", noManifest))).rejects.toThrow(
      /has no manifest blob for library\/bad:1/,
    );
    const tampered = ociLayoutMembers(entry(named("bad:1")), imageBlobs(app)).map((member) =>
      member.name.endsWith(app.manifest.digest.slice(7))
        ? { ...member, body: Buffer.from(app.manifest.bytes.toString().replace('\n   "', '\n\t  "')) }
        : member,
    );
    await expect(open(await writeArchive(dir, "tampered.tar", tampered))).rejects.toThrow(
      /tampered\.tar: entry "blobs\/sha256\/[0-9a-f]{64}": does not match its digest/,
    );
    expect(
      await refused(
        open(
          await writeArchive(
            dir,
            "tagonly.tar",
            ociLayoutMembers(entry({ "org.opencontainers.image.ref.name": "1.0" }), imageBlobs(app)),
          ),
        ),
        "IMAGE_REFERENCE_INVALID",
      ),
    ).toContain('names only the tag "1.0"');
    await expect(
      open(await writeArchive(dir, "noname.tar", ociLayoutMembers(entry({}), imageBlobs(app)))),
    ).rejects.toThrow(/has no image name/);
    const okRefName = await open(
      await writeArchive(
        dir,
        "refname.tar",
        ociLayoutMembers(
          entry({ "org.opencontainers.image.ref.name": "quay.io/org/bad:2" }),
          imageBlobs(app),
        ),
      ),
    );
    expect(okRefName.images[0]!.repository).toBe("org/bad");
  });

  it("refuses what is not an image archive: not a tar, unknown layout, unsafe names", async () => {
    const text = path.join(dir, "notes.txt");
    await writeFile(text, "hello ".repeat(200));
    expect(await refused(open(text), "IMAGE_ARCHIVE_INVALID")).toContain("notes.txt: is not a tar archive");
    await expect(
      open(await writeArchive(dir, "other.tar", [{ name: "README", body: "hi" }])),
    ).rejects.toThrow(/other\.tar: is neither a docker save archive/);
    const hostile = [
      ...docker25Members([{ image: testImage("h"), name: "h:1" }]),
      { name: "../../etc/cron.d/x", body: "* * * * * root sh" },
    ];
    expect(
      await refused(open(await writeArchive(dir, "hostile.tar", hostile)), "IMAGE_ARCHIVE_INVALID"),
    ).toContain('hostile.tar: entry "../../etc/cron.d/x" has an unsafe name');
    const climbing = legacyMembers([{ image: testImage("c", { layers: 1 }), repoTags: ["c:1"] }]).map(
      (member) =>
        member.name === "manifest.json"
          ? {
              ...member,
              body: Buffer.from(member.body ?? "")
                .toString()
                .replace(/"[0-9a-f]{64}\/layer\.tar"/, '"../../etc/shadow"'),
            }
          : member,
    );
    expect(
      await refused(open(await writeArchive(dir, "climbing.tar", climbing)), "IMAGE_ARCHIVE_INVALID"),
    ).toContain('climbing.tar: entry "../../etc/shadow" has an unsafe name');
    const archive = await open(
      await writeArchive(dir, "ok.tar", docker25Members([{ image: testImage("ok"), name: "ok:1" }])),
    );
    expect(() => archive.openBlob(sha256("nope"))).toThrow(/ok\.tar: has no blob/);
  });

  it("names one repo:tag twice only for the same manifest", async () => {
    const a = testImage("twice-a");
    const b = testImage("twice-b");
    const members = docker25Members([
      { image: a, name: "same:1" },
      { image: b, name: "same:1" },
    ]);
    await expect(open(await writeArchive(dir, "twice.tar", members))).rejects.toThrow(
      /names library\/same:1 twice/,
    );
    const dup = await open(
      await writeArchive(
        dir,
        "dup.tar",
        docker25Members([
          { image: a, name: "same:1" },
          { image: a, name: "docker.io/library/same:1" },
        ]),
      ),
    );
    expect(dup.images).toHaveLength(1);
  });
});
