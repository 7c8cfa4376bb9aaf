import { z } from "zod";

/**
 * The media types and JSON documents of OCI image layouts and docker save
 * archives that the seeder reads. Schemas accept unknown keys (`passthrough`
 * is not needed: the parsed object is only read, the exact bytes are what is
 * pushed) and check only what the seeder relies on.
 */
export const MEDIA_TYPES = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerTar: "application/vnd.oci.image.layer.v1.tar",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
} as const;

/** Index-like media types: their `manifests` are child manifests. */
export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]);
/** Image manifest media types: a config and layers. */
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
]);

/** The Accept header for manifest HEAD/GET: without the OCI types distribution answers 404 for OCI content. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
].join(", ");

/** distribution refuses manifest bodies over 4 MiB (maxManifestBodySize). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Only sha256 content addresses are accepted: distribution's default, and all docker save writes. */
export const digestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, "a sha256 digest");

const mediaTypeSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/, "a media type");

export const platformSchema = z.object({
  os: z.string().max(64),
  architecture: z.string().max(64),
  variant: z.string().max(64).optional(),
});
export type Platform = z.infer<typeof platformSchema>;

export const descriptorSchema = z.object({
  mediaType: mediaTypeSchema,
  digest: digestSchema,
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  platform: platformSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

export const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: mediaTypeSchema.optional(),
  manifests: z.array(descriptorSchema).max(10_000),
});

export const imageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: mediaTypeSchema.optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema).max(10_000),
});

export const ociLayoutSchema = z.object({ imageLayoutVersion: z.string().min(1) });

/** The image config fields the legacy docker-save reader needs: the uncompressed layers' digests. */
export const imageConfigSchema = z.object({
  rootfs: z.object({ type: z.string(), diff_ids: z.array(digestSchema).max(10_000) }),
});

/** `manifest.json` of `docker save`: one entry per image. */
export const dockerSaveManifestSchema = z
  .array(
    z.object({
      Config: z.string().min(1).max(4096),
      RepoTags: z.array(z.string().max(1024)).max(1000).nullable().optional(),
      Layers: z.array(z.string().min(1).max(4096)).max(10_000),
    }),
  )
  .max(10_000);

/** Annotation keys that name an image in an OCI layout's index.json. */
export const ANNOTATIONS = {
  containerdName: "io.containerd.image.name",
  refName: "org.opencontainers.image.ref.name",
  dockerReferenceType: "vnd.docker.reference.type",
} as const;
