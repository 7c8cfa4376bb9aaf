import { z } from "zod";
import { ARTIFACT_ARCHES, ARTIFACT_KINDS, sha256HexSchema } from "../../shared/artifacts.js";
import { DEB_COMPONENTS } from "./manifest.js";
import { unsafePathReason } from "./safe-path.js";

/**
 * A bundle lock (`bundles/<name>.lock.yaml`): what goes into a bundle and
 * where it comes from. Each artifact names its source and, for downloads, the
 * sha256 it must have. A download whose sha256 could not be confirmed from a
 * public release page carries `unverified` (why) instead of `sha256`; the
 * builder refuses such entries unless told `--allow-unpinned`.
 */
const source = z
  .string()
  .min(1)
  .refine((value) => /^(https?:\/\/|file:)/.test(value), "a source is an http(s):// URL or file:PATH");

export const lockArtifactSchema = z
  .object({
    /** Where it goes in the bundle (relative, no ".."). */
    path: z.string().superRefine((path, ctx) => {
      const reason = unsafePathReason(path);
      if (reason !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: reason });
    }),
    kind: z.enum(ARTIFACT_KINDS),
    name: z.string().min(1).max(200),
    version: z.string().min(1).max(200),
    arch: z.enum(ARTIFACT_ARCHES),
    /** https://…, http://… or file:PATH (relative to the lock file; a directory is an OCI layout, packed as a tar). */
    source,
    sha256: sha256HexSchema.optional(),
    /** Where the sha256 was confirmed ("sha256sum-amd64.txt of the v1.33.5+k3s1 release"). */
    verified: z.string().min(1).max(500).optional(),
    /** Why no sha256 could be confirmed; the entry has no sha256 then. */
    unverified: z.string().min(1).max(500).optional(),
    component: z.enum(DEB_COMPONENTS).optional(),
    format: z.enum(["docker-archive", "oci-archive"]).optional(),
  })
  .strict()
  .superRefine((entry, ctx) => {
    const remote = !entry.source.startsWith("file:");
    if (remote && entry.sha256 === undefined && entry.unverified === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["sha256"],
        message: "a download needs a sha256 (or `unverified: <why>` when none could be confirmed)",
      });
    }
    if (entry.sha256 !== undefined && entry.unverified !== undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["unverified"],
        message: "an entry with a sha256 is not unverified",
      });
    }
  });
export type LockArtifact = z.infer<typeof lockArtifactSchema>;

export const lockSchema = z
  .object({
    /** The bundle's name (manifest `name`). */
    name: z.string().min(1).max(200),
    arch: z.array(z.enum(["amd64", "arm64"])).min(1),
    artifacts: z.array(lockArtifactSchema).min(1),
  })
  .strict();
export type Lock = z.infer<typeof lockSchema>;
