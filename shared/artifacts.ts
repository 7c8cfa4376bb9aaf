import { z } from "zod";

/**
 * What a bundle can carry. The kind decides which hosts need an artifact
 * (see server/bundle/needs.ts) and which step consumes it.
 */
export const ARTIFACT_KINDS = [
  "k3s-binary",
  "k3s-images",
  "deb",
  /** Docker's static binaries (download.docker.com/linux/static), installed with groundcrew's own units. */
  "docker-static",
  "nvidia-driver",
  "nvidia-toolkit",
  "registry",
  "image-archive",
  "helm-chart",
  "manifest",
  "agent-runtime",
] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** Architectures as Debian and k3s name them; `all` for architecture-independent files. */
export const ARTIFACT_ARCHES = ["amd64", "arm64", "all"] as const;
export type ArtifactArch = (typeof ARTIFACT_ARCHES)[number];

export const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, "a sha256 is 64 lowercase hex digits");

/**
 * One artifact as a host's plan names it: the content address (sha256) and
 * size it must have, and its bundle path for messages. A host stores it at
 * `/var/lib/groundcrew/cas/sha256/<sha256>`.
 */
export const artifactRefSchema = z
  .object({
    sha256: sha256HexSchema,
    size: z.number().int().min(0),
    path: z.string().min(1).max(512),
    kind: z.enum(ARTIFACT_KINDS),
  })
  .strict();
export type ArtifactRef = z.infer<typeof artifactRefSchema>;

/** Where a host keeps verified artifacts, by content address. */
export const HOST_CAS_DIR = "/var/lib/groundcrew/cas";

export function casPath(sha256: string, root: string = HOST_CAS_DIR): string {
  return `${root}/sha256/${sha256}`;
}
