import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { t as listTar, x as extractTar, type ReadEntry } from "tar";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import type { ImageEntry, ImageSpec } from "../../server/images/image-spec.js";
import { writeImageArchive, type ArchiveFormat } from "../../server/images/write-archive.js";

const LONG_DIR = `usr/share/${"d".repeat(60)}/${"e".repeat(60)}`; // > 100 bytes with a file name: ustar prefix
const FILES: readonly ImageEntry[] = [
  { path: "etc/motd", content: Buffer.from("hello\n"), mode: 0o644 },
  { path: "bin/tool", content: Buffer.from("#!/bin/sh\necho tool\n"), mode: 0o755 },
  { path: "bin/sh", linkTarget: "tool" },
  { path: "etc/link-abs", linkTarget: "/etc/motd" },
  { path: "tmp", mode: 0o1777, directory: true },
  { path: `${LONG_DIR}/file.txt`, content: Buffer.alloc(1000, 0x61), mode: 0o600 },
];
const SPEC: ImageSpec = {
  reference: "docker.io/library/sample:1.0",
  files: FILES,
  env: ["PATH=/bin", "GREETING=a=b"],
  entrypoint: ["/bin/sh", "-c"],
  cmd: ["echo hi"],
  arch: "amd64",
};

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const hexOf = (digest: string): string => digest.replace(/^sha256:/, "");
const json = (bytes: Buffer): unknown => JSON.parse(bytes.toString("utf8"));

const dockerManifestSchema = z
  .array(
    z.object({ Config: z.string(), RepoTags: z.array(z.string()), Layers: z.array(z.string()) }).strict(),
  )
  .length(1);
const configSchema = z
  .object({
    architecture: z.enum(["amd64", "arm64"]),
    os: z.literal("linux"),
    variant: z.literal("v8").optional(),
    created: z.literal("1970-01-01T00:00:00Z"),
    config: z
      .object({ Env: z.array(z.string()), Entrypoint: z.array(z.string()), Cmd: z.array(z.string()) })
      .partial()
      .strict(),
    rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(z.string()).length(1) }).strict(),
    history: z.array(
      z.object({ created: z.literal("1970-01-01T00:00:00Z"), created_by: z.string() }).strict(),
    ),
  })
  .strict();
const descriptorSchema = z.object({
  mediaType: z.string(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  size: z.number().int().positive(),
});
const ociIndexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.literal("application/vnd.oci.image.index.v1+json"),
    manifests: z
      .array(
        descriptorSchema
          .extend({
            annotations: z.record(z.string()),
            platform: z.object({ architecture: z.string(), os: z.string(), variant: z.string().optional() }),
          })
          .strict(),
      )
      .length(1),
  })
  .strict();
const ociManifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.literal("application/vnd.oci.image.manifest.v1+json"),
    config: descriptorSchema.strict(),
    layers: z.array(descriptorSchema.strict()).length(1),
  })
  .strict();

interface ListedEntry {
  readonly path: string;
  readonly type: string;
  readonly mode: number | undefined;
  readonly linkpath: string | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  readonly uname: string | undefined;
  readonly gname: string | undefined;
  readonly mtime: number | undefined;
}

async function listEntries(file: string): Promise<ListedEntry[]> {
  const entries: ListedEntry[] = [];
  await listTar({
    file,
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      entries.push({
        path: entry.path,
        type: entry.type,
        mode: entry.mode,
        linkpath: entry.linkpath === "" ? undefined : entry.linkpath,
        uid: entry.uid,
        gid: entry.gid,
        uname: entry.uname,
        gname: entry.gname,
        mtime: entry.mtime?.getTime(),
      });
    },
  });
  return entries;
}

/**
 * Extracts `file` under `into`. Strict (any warning fails) for the outer
 * archives; a layer holds an absolute symlink target, which tar warns about.
 */
async function extract(file: string, into: string, strict = true): Promise<string> {
  await mkdir(into, { recursive: true });
  await extractTar({ file, cwd: into, strict });
  return into;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gc-images-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(pending: Promise<unknown>): Promise<GroundcrewError> {
  try {
    await pending;
  } catch (error) {
    if (error instanceof GroundcrewError) return error;
    throw error;
  }
  throw new Error("the spec was accepted");
}

describe("writeImageArchive: determinism", () => {
  it.each<ArchiveFormat>(["docker-save", "oci-layout"])(
    "writes byte-identical %s archives for the same spec, whatever the entry order",
    async (format) => {
      const first = await writeImageArchive(SPEC, format, path.join(dir, "a.tar"));
      const second = await writeImageArchive(
        { ...SPEC, files: [...FILES].reverse() },
        format,
        path.join(dir, "b.tar"),
      );
      expect(second).toEqual(first);
      const [a, b] = await Promise.all([
        readFile(path.join(dir, "a.tar")),
        readFile(path.join(dir, "b.tar")),
      ]);
      expect(a.equals(b)).toBe(true);
      expect(first.bytes).toBe(a.byteLength);
      expect(a.byteLength % 512).toBe(0);
    },
  );

  it("gives both formats the same config and diff_id, and replaces a file in place without leftovers", async () => {
    const file = path.join(dir, "image.tar");
    await writeFile(file, "old content");
    const dockerSave = await writeImageArchive(SPEC, "docker-save", file);
    const oci = await writeImageArchive(SPEC, "oci-layout", path.join(dir, "oci.tar"));
    expect(oci.configDigest).toBe(dockerSave.configDigest);
    expect(oci.layerDiffId).toBe(dockerSave.layerDiffId);
    expect(oci.manifestDigest).not.toBe(dockerSave.manifestDigest);
    expect((await readFile(file)).byteLength).toBe(dockerSave.bytes);
    expect((await readdir(dir)).sort()).toEqual(["image.tar", "oci.tar"]);
  });

  it("changes the config digest but not the layer when only the settings change", async () => {
    const base = await writeImageArchive(SPEC, "docker-save", path.join(dir, "a.tar"));
    const other = await writeImageArchive(
      { ...SPEC, cmd: ["echo bye"] },
      "docker-save",
      path.join(dir, "b.tar"),
    );
    expect(other.layerDiffId).toBe(base.layerDiffId);
    expect(other.configDigest).not.toBe(base.configDigest);
  });
});

describe("writeImageArchive: docker-save", () => {
  it("writes manifest.json, repositories, the config named by its digest and the legacy layer folder", async () => {
    const file = path.join(dir, "image.tar");
    const written = await writeImageArchive(SPEC, "docker-save", file);
    const outer = await listEntries(file);
    for (const entry of outer) {
      expect(entry).toMatchObject({ uid: 0, gid: 0, uname: "", gname: "", mtime: 0 });
    }
    const root = await extract(file, path.join(dir, "x"));

    const manifestBytes = await readFile(path.join(root, "manifest.json"));
    expect(sha256(manifestBytes)).toBe(written.manifestDigest);
    const [image] = dockerManifestSchema.parse(json(manifestBytes));
    expect(image!.RepoTags).toEqual(["sample:1.0"]);
    expect(image!.Config).toBe(`${hexOf(written.configDigest)}.json`);
    expect(image!.Layers).toHaveLength(1);
    const layerPath = image!.Layers[0]!;
    const layerId = layerPath.split("/")[0]!;
    expect(layerPath).toMatch(/^[0-9a-f]{64}\/layer\.tar$/);

    const configBytes = await readFile(path.join(root, image!.Config));
    expect(sha256(configBytes)).toBe(written.configDigest);
    const config = configSchema.parse(json(configBytes));
    expect(config.architecture).toBe("amd64");
    expect(config.variant).toBeUndefined();
    expect(config.config).toEqual({ Env: SPEC.env, Entrypoint: SPEC.entrypoint, Cmd: SPEC.cmd });
    const layerBytes = await readFile(path.join(root, layerPath));
    expect(config.rootfs.diff_ids).toEqual([sha256(layerBytes)]);
    expect(written.layerDiffId).toBe(sha256(layerBytes));

    const repositories = z
      .record(z.record(z.string()))
      .parse(json(await readFile(path.join(root, "repositories"))));
    expect(repositories).toEqual({ sample: { "1.0": layerId } });
    expect(await readFile(path.join(root, layerId, "VERSION"), "utf8")).toBe("1.0");
    const legacy = z
      .object({ id: z.string() })
      .passthrough()
      .parse(json(await readFile(path.join(root, layerId, "json"))));
    expect(legacy.id).toBe(layerId);
  });

  it("writes a ustar layer with sorted entries, parent folders, fixed owners and times, and symlinks", async () => {
    const file = path.join(dir, "image.tar");
    await writeImageArchive(SPEC, "docker-save", file);
    const root = await extract(file, path.join(dir, "x"));
    const [image] = dockerManifestSchema.parse(json(await readFile(path.join(root, "manifest.json"))));
    const layerFile = path.join(root, image!.Layers[0]!);
    const layerBytes = await readFile(layerFile);
    expect(layerBytes.subarray(257, 265).toString("latin1")).toBe("ustar\u000000");

    const entries = await listEntries(layerFile);
    expect(entries.map((entry) => entry.path)).toEqual([
      "bin/",
      "bin/sh",
      "bin/tool",
      "etc/",
      "etc/link-abs",
      "etc/motd",
      "tmp/",
      "usr/",
      "usr/share/",
      `usr/share/${"d".repeat(60)}/`,
      `${LONG_DIR}/`,
      `${LONG_DIR}/file.txt`,
    ]);
    for (const entry of entries) {
      expect(entry).toMatchObject({ uid: 0, gid: 0, uname: "", gname: "", mtime: 0 });
    }
    const byPath = new Map(entries.map((entry) => [entry.path, entry]));
    expect(byPath.get("bin/sh")).toMatchObject({ type: "SymbolicLink", linkpath: "tool" });
    expect(byPath.get("etc/link-abs")).toMatchObject({ type: "SymbolicLink", linkpath: "/etc/motd" });
    expect(byPath.get("bin/tool")).toMatchObject({ type: "File", mode: 0o755 });
    expect(byPath.get("etc/motd")).toMatchObject({ type: "File", mode: 0o644 });
    expect(byPath.get("tmp/")).toMatchObject({ type: "Directory", mode: 0o1777 });
    expect(byPath.get("usr/share/")).toMatchObject({ type: "Directory", mode: 0o755 });
    expect(byPath.get(`${LONG_DIR}/file.txt`)).toMatchObject({ type: "File", mode: 0o600 });

    const fsRoot = await extract(layerFile, path.join(dir, "rootfs"), false);
    expect(await readFile(path.join(fsRoot, "bin", "sh"), "utf8")).toBe("#!/bin/sh\necho tool\n");
    expect((await readFile(path.join(fsRoot, LONG_DIR, "file.txt"))).equals(Buffer.alloc(1000, 0x61))).toBe(
      true,
    );
  });
});

describe("writeImageArchive: oci-layout", () => {
  it("writes an index, a manifest, a config and a gzip layer whose digests all match their blobs", async () => {
    const file = path.join(dir, "image.tar");
    const spec: ImageSpec = { ...SPEC, arch: "arm64", reference: "registry.local:5000/team/sample:2" };
    const written = await writeImageArchive(spec, "oci-layout", file);
    const root = await extract(file, path.join(dir, "x"));
    const blob = (digest: string): Promise<Buffer> =>
      readFile(path.join(root, "blobs", "sha256", hexOf(digest)));

    expect(
      z
        .object({ imageLayoutVersion: z.literal("1.0.0") })
        .strict()
        .parse(json(await readFile(path.join(root, "oci-layout")))),
    ).toBeTruthy();
    const index = ociIndexSchema.parse(json(await readFile(path.join(root, "index.json"))));
    const [descriptor] = index.manifests;
    expect(descriptor!.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(descriptor!.annotations).toEqual({
      "io.containerd.image.name": "registry.local:5000/team/sample:2",
      "org.opencontainers.image.ref.name": "2",
    });
    expect(descriptor!.platform).toEqual({ architecture: "arm64", os: "linux", variant: "v8" });

    const manifestBytes = await blob(descriptor!.digest);
    expect(sha256(manifestBytes)).toBe(descriptor!.digest);
    expect(manifestBytes.byteLength).toBe(descriptor!.size);
    expect(descriptor!.digest).toBe(written.manifestDigest);
    const manifest = ociManifestSchema.parse(json(manifestBytes));
    expect(manifest.config.mediaType).toBe("application/vnd.oci.image.config.v1+json");
    expect(manifest.layers[0]!.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");

    const configBytes = await blob(manifest.config.digest);
    expect(sha256(configBytes)).toBe(manifest.config.digest);
    expect(configBytes.byteLength).toBe(manifest.config.size);
    expect(manifest.config.digest).toBe(written.configDigest);
    const config = configSchema.parse(json(configBytes));
    expect(config).toMatchObject({ architecture: "arm64", variant: "v8", os: "linux" });

    const layer = manifest.layers[0]!;
    const gzipBytes = await blob(layer.digest);
    expect(sha256(gzipBytes)).toBe(layer.digest);
    expect(gzipBytes.byteLength).toBe(layer.size);
    // gzip header: magic, deflate, no flags (no name or comment), mtime 0, OS unknown.
    expect([...gzipBytes.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
    expect(gzipBytes.readUInt32LE(4)).toBe(0);
    expect(gzipBytes[9]).toBe(255);
    const layerTar = gunzipSync(gzipBytes);
    expect(config.rootfs.diff_ids).toEqual([sha256(layerTar)]);
    expect(written.layerDiffId).toBe(sha256(layerTar));

    // Every blob is referenced, and nothing else is in the archive.
    const blobs = (await readdir(path.join(root, "blobs", "sha256"))).sort();
    expect(blobs).toEqual([descriptor!.digest, manifest.config.digest, layer.digest].map(hexOf).sort());
    expect((await readdir(root)).sort()).toEqual(["blobs", "index.json", "oci-layout"]);
  });
});

describe("writeImageArchive: refusals", () => {
  it.each(["busybox", "Busybox:1", "busybox@sha256:" + "0".repeat(64), "docker.io//busybox:1"])(
    "rejects the reference %s with IMAGE_REFERENCE_INVALID and writes nothing",
    async (reference) => {
      const error = await failure(
        writeImageArchive({ ...SPEC, reference }, "oci-layout", path.join(dir, "a.tar")),
      );
      expect(error.code).toBe("IMAGE_REFERENCE_INVALID");
      expect(error.message).toContain(JSON.stringify(reference));
      expect(await readdir(dir)).toEqual([]);
    },
  );

  it.each<[string, readonly ImageEntry[], string]>([
    ["an escaping path", [{ path: "../etc/passwd", content: Buffer.alloc(0), mode: 0o644 }], "'..'"],
    ["an absolute path", [{ path: "/etc/passwd", content: Buffer.alloc(0), mode: 0o644 }], "absolute"],
    ["an empty segment", [{ path: "bin//sh", linkTarget: "busybox" }], "empty"],
    ["a trailing slash", [{ path: "tmp/", mode: 0o755, directory: true }], "empty"],
    [
      "a duplicate path",
      [
        { path: "bin/sh", linkTarget: "busybox" },
        { path: "bin/sh", content: Buffer.alloc(0), mode: 0o755 },
      ],
      "more than once",
    ],
    [
      "a path under a file",
      [
        { path: "bin", content: Buffer.alloc(0), mode: 0o755 },
        { path: "bin/sh", linkTarget: "busybox" },
      ],
      'parent "bin" is a file',
    ],
    ["a bad mode", [{ path: "bin/x", content: Buffer.alloc(0), mode: 0o10000 }], "mode"],
    ["an empty link target", [{ path: "bin/sh", linkTarget: "" }], "link target is empty"],
    [
      "a name too long for ustar",
      [{ path: "x".repeat(101), content: Buffer.alloc(0), mode: 0o644 }],
      "too long",
    ],
  ])("rejects %s with IMAGE_SPEC_INVALID naming the entry", async (_, files, why) => {
    const error = await failure(
      writeImageArchive({ ...SPEC, files }, "docker-save", path.join(dir, "a.tar")),
    );
    expect(error.code).toBe("IMAGE_SPEC_INVALID");
    expect(error.message).toContain(SPEC.reference);
    expect(error.message).toContain(JSON.stringify(files[files.length - 1]!.path));
    expect(error.message).toContain(why);
    expect(await readdir(dir)).toEqual([]);
  });

  it("rejects an env entry that is not NAME=value", async () => {
    const error = await failure(
      writeImageArchive({ ...SPEC, env: ["PATH"] }, "docker-save", path.join(dir, "a.tar")),
    );
    expect(error.code).toBe("IMAGE_SPEC_INVALID");
    expect(error.message).toContain('"PATH"');
  });
});
