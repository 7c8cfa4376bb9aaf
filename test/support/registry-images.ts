import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { MEDIA_TYPES } from "../../agent/registry/oci-types.js";
import { tarBytes, type TarMember } from "./registry-tar.js";

/**
 * Small, real images for tests: layers are tars, configs list their
 * diff_ids, manifests reference existing blobs, so a real registry accepts
 * them. Manifests are pretty-printed (3 spaces) on purpose: a reader that
 * re-serializes them changes their digest and is caught.
 */
export interface TestBlob {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

export interface TestImage {
  readonly config: TestBlob;
  readonly layers: readonly TestBlob[];
  readonly manifest: TestBlob;
  readonly platform: { readonly os: string; readonly architecture: string };
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function testBlob(content: Uint8Array | string, mediaType: string): TestBlob {
  const bytes = Buffer.from(content);
  return { bytes, digest: sha256(bytes), size: bytes.length, mediaType };
}

export function descriptorOf(blob: TestBlob, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size, ...extra };
}

function pretty(value: unknown): string {
  return `${JSON.stringify(value, null, 3)}\n`;
}

/** An image of `layers` one-file layers whose content derives from `seed`. */
export function testImage(
  seed: string,
  options: { layers?: number; gzip?: boolean; architecture?: string; docker?: boolean } = {},
): TestImage {
  const architecture = options.architecture ?? "amd64";
  const uncompressed = Array.from({ length: options.layers ?? 2 }, (_, at) =>
    tarBytes([{ name: `${seed}/file-${at}.txt`, body: `${seed} ${architecture} layer ${at}\n` }]),
  );
  const layerType = options.docker
    ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
    : `${MEDIA_TYPES.ociLayerTar}${options.gzip ? "+gzip" : ""}`;
  const layers = uncompressed.map((tar) => testBlob(options.gzip ? gzipSync(tar) : tar, layerType));
  const configDocument = {
    architecture,
    os: "linux",
    config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: uncompressed.map((tar) => sha256(tar)) },
  };
  const config = testBlob(
    JSON.stringify(configDocument),
    options.docker ? "application/vnd.docker.container.image.v1+json" : MEDIA_TYPES.ociConfig,
  );
  const manifestType = options.docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const manifest = testBlob(
    pretty({
      schemaVersion: 2,
      mediaType: manifestType,
      config: descriptorOf(config),
      layers: layers.map((layer) => descriptorOf(layer)),
    }),
    manifestType,
  );
  return { config, layers, manifest, platform: { os: "linux", architecture } };
}

/** A buildkit-style attestation manifest for `image` (platform unknown/unknown in its index). */
export function attestationOf(image: TestImage): { manifest: TestBlob; blobs: TestBlob[] } {
  const config = testBlob("{}", MEDIA_TYPES.ociConfig);
  const statement = testBlob(
    `{"_type":"https://in-toto.io/Statement/v0.1","for":"${image.manifest.digest}"}`,
    "application/vnd.in-toto+json",
  );
  const manifest = testBlob(
    pretty({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: descriptorOf(config),
      layers: [descriptorOf(statement)],
    }),
    MEDIA_TYPES.ociManifest,
  );
  return { manifest, blobs: [config, statement] };
}

/** An index over `children` (descriptors made with descriptorOf). */
export function testIndex(
  children: readonly Record<string, unknown>[],
  mediaType: string = MEDIA_TYPES.ociIndex,
): TestBlob {
  return testBlob(pretty({ schemaVersion: 2, mediaType, manifests: children }), mediaType);
}

export function platformDescriptor(image: TestImage): Record<string, unknown> {
  return descriptorOf(image.manifest, { platform: image.platform });
}

export function attestationDescriptor(
  attestation: { manifest: TestBlob },
  image: TestImage,
): Record<string, unknown> {
  return descriptorOf(attestation.manifest, {
    platform: { os: "unknown", architecture: "unknown" },
    annotations: {
      "vnd.docker.reference.type": "attestation-manifest",
      "vnd.docker.reference.digest": image.manifest.digest,
    },
  });
}

export function imageBlobs(image: TestImage): TestBlob[] {
  return [image.manifest, image.config, ...image.layers];
}

/** `blobs/sha256/<hex>` members, each digest once. */
export function blobMembers(blobs: readonly TestBlob[]): TarMember[] {
  const unique = new Map(blobs.map((blob) => [blob.digest, blob]));
  return [...unique.values()].map((blob) => ({
    name: `blobs/sha256/${blob.digest.slice(7)}`,
    body: blob.bytes,
  }));
}

/** An OCI image layout: oci-layout, index.json over `entries`, the blobs. */
export function ociLayoutMembers(
  entries: readonly Record<string, unknown>[],
  blobs: readonly TestBlob[],
): TarMember[] {
  return [
    { name: "oci-layout", body: '{"imageLayoutVersion":"1.0.0"}' },
    {
      name: "index.json",
      body: JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: entries }),
    },
    ...blobMembers(blobs),
  ];
}

/** What docker save writes from Docker 25 on: an OCI layout plus Docker's manifest.json pointing into blobs/. */
export function docker25Members(images: readonly { image: TestImage; name: string }[]): TarMember[] {
  const entries = images.map(({ image, name }) =>
    descriptorOf(image.manifest, {
      annotations: {
        "io.containerd.image.name": name,
        "org.opencontainers.image.ref.name": name.slice(name.lastIndexOf(":") + 1),
      },
    }),
  );
  const path = (blob: TestBlob): string => `blobs/sha256/${blob.digest.slice(7)}`;
  const manifestJson = images.map(({ image, name }) => ({
    Config: path(image.config),
    RepoTags: [name.replace(/^docker\.io\/(library\/)?/, "")],
    Layers: image.layers.map(path),
  }));
  return [
    ...ociLayoutMembers(
      entries,
      images.flatMap(({ image }) => imageBlobs(image)),
    ),
    { name: "manifest.json", body: JSON.stringify(manifestJson) },
  ];
}

/**
 * A legacy docker save (Docker < 25): <config-hex>.json, <id>/layer.tar
 * (a layer already written is linked as "../<id>/layer.tar", as docker
 * does), manifest.json and repositories. Layers must be uncompressed.
 */
export function legacyMembers(
  images: readonly { image: TestImage; repoTags: string[] | null }[],
): TarMember[] {
  const members: TarMember[] = [];
  const written = new Map<string, string>();
  const manifestJson = images.map(({ image, repoTags }, imageAt) => {
    const configName = `${image.config.digest.slice(7)}.json`;
    if (!members.some((member) => member.name === configName))
      members.push({ name: configName, body: image.config.bytes });
    const layers = image.layers.map((layer, at) => {
      const id = sha256(`${imageAt}/${at}/${layer.digest}`).slice(7);
      members.push(
        { name: `${id}/`, type: "dir" },
        { name: `${id}/VERSION`, body: "1.0" },
        { name: `${id}/json`, body: `{"id":"${id}"}` },
      );
      const first = written.get(layer.digest);
      if (first === undefined) {
        members.push({ name: `${id}/layer.tar`, body: layer.bytes });
        written.set(layer.digest, id);
      } else {
        members.push({ name: `${id}/layer.tar`, type: "symlink", linkname: `../${first}/layer.tar` });
      }
      return `${id}/layer.tar`;
    });
    return { Config: configName, RepoTags: repoTags, Layers: layers };
  });
  members.push({ name: "manifest.json", body: JSON.stringify(manifestJson) });
  members.push({ name: "repositories", body: "{}" });
  return members;
}
