import { z } from "zod";
import {
  ARTIFACT_ARCHES,
  ARTIFACT_KINDS,
  sha256HexSchema,
  type ArtifactRef,
} from "../../shared/artifacts.js";
import { GroundcrewError } from "../../shared/errors.js";
import { unsafePathReason } from "./safe-path.js";

export const MANIFEST_FILE = "manifest.json";
export const SIGNATURE_FILE = "manifest.sig";
export const MANIFEST_SCHEMA_VERSION = 1;
/** A manifest larger than this is refused before parsing. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const RESERVED = new Set([MANIFEST_FILE, SIGNATURE_FILE]);

const bundlePath = z.string().superRefine((path, ctx) => {
  const reason = unsafePathReason(path);
  if (reason !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: reason });
  else if (RESERVED.has(path)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${path} is reserved` });
});

/** Which hosts a `deb` serves: Docker's packages, the registry's, the GPU stack's, or every host. */
export const DEB_COMPONENTS = ["docker", "registry", "nvidia", "host"] as const;
export type DebComponent = (typeof DEB_COMPONENTS)[number];

export const artifactEntrySchema = z
  .object({
    path: bundlePath,
    kind: z.enum(ARTIFACT_KINDS),
    /** What it is, for people: "k3s", "containerd", "nvidia-device-plugin". */
    name: z.string().min(1).max(200),
    version: z.string().min(1).max(200),
    arch: z.enum(ARTIFACT_ARCHES),
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    sha256: sha256HexSchema,
    /** For `deb` only: which hosts install it (default `host`: every host). */
    component: z.enum(DEB_COMPONENTS).optional(),
    /** For `image-archive` only: how the images are packed. */
    format: z.enum(["docker-archive", "oci-archive"]).optional(),
  })
  .strict()
  .superRefine((entry, ctx) => {
    if (entry.component !== undefined && entry.kind !== "deb") {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "component applies to kind deb only" });
    }
    if (entry.format !== undefined && entry.kind !== "image-archive") {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "format applies to kind image-archive only" });
    }
  });
export type ArtifactEntry = z.infer<typeof artifactEntrySchema>;

export const manifestSchema = z
  .object({
    schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
    name: z.string().min(1).max(200),
    created: z.string().datetime(),
    arch: z.array(z.enum(["amd64", "arm64"])).min(1),
    artifacts: z.array(artifactEntrySchema),
  })
  .strict()
  .superRefine((manifest, ctx) => {
    const seen = new Map<string, number>();
    manifest.artifacts.forEach((artifact, index) => {
      const previous = seen.get(artifact.path);
      if (previous !== undefined) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["artifacts", index, "path"],
          message: `${artifact.path} is listed twice (also artifacts[${previous}])`,
        });
      }
      seen.set(artifact.path, index);
      if (artifact.arch !== "all" && !manifest.arch.includes(artifact.arch)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["artifacts", index, "arch"],
          message: `${artifact.arch} is not one of the bundle's architectures (${manifest.arch.join(", ")})`,
        });
      }
    });
  });
export type Manifest = z.infer<typeof manifestSchema>;

/**
 * Parses manifest bytes. Throws GroundcrewError BUNDLE_INVALID naming
 * `where` (the bundle) and every problem with its JSON path
 * ("artifacts[2].sha256: ..."); BUNDLE_UNSAFE_PATH when the only problems
 * are unsafe paths.
 */
export function parseManifest(bytes: Uint8Array, where: string): { manifest: Manifest; raw: unknown } {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new GroundcrewError("BUNDLE_INVALID", `${where}: ${MANIFEST_FILE} is larger than 4 MiB`, {
      context: { bundle: where },
    });
  }
  let raw: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    raw = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new GroundcrewError("BUNDLE_INVALID", `${where}: ${MANIFEST_FILE} is not JSON: ${reason}`, {
      context: { bundle: where },
    });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${jsonPath(issue.path)}: ${issue.message}`);
    const unsafe = parsed.error.issues.every(
      (issue) => issue.path.at(-1) === "path" && /path/.test(issue.message),
    );
    throw new GroundcrewError(
      unsafe ? "BUNDLE_UNSAFE_PATH" : "BUNDLE_INVALID",
      `${where}: ${MANIFEST_FILE}:\n  ${problems.join("\n  ")}`,
      { context: { bundle: where } },
    );
  }
  return { manifest: parsed.data, raw };
}

/** "artifacts[2].sha256" from zod's ["artifacts", 2, "sha256"]. */
export function jsonPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return "(top level)";
  return path
    .map((part, index) => (typeof part === "number" ? `[${part}]` : index === 0 ? part : `.${part}`))
    .join("");
}

/**
 * The bytes a signature covers: the manifest's JSON with object keys sorted
 * (by UTF-16 code units), no insignificant whitespace, UTF-8. Two manifests
 * with the same content have the same canonical bytes however they were
 * formatted.
 */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The manifest as written into a bundle: canonical key order, indented for people. */
export function renderManifest(manifest: Manifest): string {
  return `${JSON.stringify(JSON.parse(canonicalJson(manifest)), null, 2)}\n`;
}

export function artifactRef(entry: ArtifactEntry): ArtifactRef {
  return { sha256: entry.sha256, size: entry.size, path: entry.path, kind: entry.kind };
}
