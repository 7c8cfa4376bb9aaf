import { jsonBlob, type Blob } from "./blob.js";
import type { ImageArch, ImageSpec } from "./image-spec.js";

/** Every image's created time, and its history's: fixed so the config digest depends only on the spec. */
export const IMAGE_CREATED = "1970-01-01T00:00:00Z";
export const IMAGE_OS = "linux";
const CREATED_BY = "groundcrew: one layer of files";

/** The platform as OCI names it; arm64 carries variant v8, as registries' arm64 images do. */
export interface ImagePlatform {
  readonly architecture: ImageArch;
  readonly os: typeof IMAGE_OS;
  readonly variant?: "v8";
}

export function imagePlatform(arch: ImageArch): ImagePlatform {
  return arch === "arm64"
    ? { architecture: arch, os: IMAGE_OS, variant: "v8" }
    : { architecture: arch, os: IMAGE_OS };
}

/**
 * The runtime settings of the image, as both the config and docker-save's
 * legacy layer json carry them. Fields the spec leaves out are left out.
 */
export function runtimeConfig(spec: ImageSpec): Record<string, readonly string[]> {
  const config: Record<string, readonly string[]> = {};
  if (spec.env !== undefined) config["Env"] = spec.env;
  if (spec.entrypoint !== undefined) config["Entrypoint"] = spec.entrypoint;
  if (spec.cmd !== undefined) config["Cmd"] = spec.cmd;
  return config;
}

/**
 * The image config (OCI image config, which Docker reads as its image JSON),
 * serialized once: platform, config {Env, Entrypoint, Cmd}, rootfs with the
 * one layer's diff_id (sha256 of the uncompressed layer tar), one history
 * entry, created at the epoch. The reference is not in it, so the same files
 * under two names have the same config digest (the same image ID).
 */
export function imageConfigBlob(spec: ImageSpec, layerDiffId: string): Blob {
  return jsonBlob({
    ...imagePlatform(spec.arch),
    created: IMAGE_CREATED,
    config: runtimeConfig(spec),
    rootfs: { type: "layers", diff_ids: [layerDiffId] },
    history: [{ created: IMAGE_CREATED, created_by: CREATED_BY }],
  });
}
