import { GroundcrewError, type ErrorCode } from "../../shared/errors.js";
import type { Manifest } from "./manifest.js";

export interface FoundFile {
  readonly size: number;
  readonly sha256: string;
}

/**
 * Compares what a bundle holds with its manifest. Throws one GroundcrewError
 * listing every problem, each naming the artifact: BUNDLE_ARTIFACT_MISMATCH
 * when any size or sha256 differs, else BUNDLE_ARTIFACT_MISSING, else
 * BUNDLE_UNLISTED_FILE for files the manifest does not list.
 */
export function checkArtifacts(
  manifest: Manifest,
  found: ReadonlyMap<string, FoundFile>,
  where: string,
): void {
  const mismatched: string[] = [];
  const missing: string[] = [];
  for (const artifact of manifest.artifacts) {
    const file = found.get(artifact.path);
    const label = `${artifact.path} (${artifact.name} ${artifact.version}, ${artifact.arch})`;
    if (file === undefined) missing.push(`${label}: not in the bundle`);
    else if (file.size !== artifact.size) {
      mismatched.push(`${label}: ${file.size} bytes, the manifest says ${artifact.size}`);
    } else if (file.sha256 !== artifact.sha256) {
      mismatched.push(`${label}: sha256 ${file.sha256}, the manifest says ${artifact.sha256}`);
    }
  }
  const listed = new Set(manifest.artifacts.map((artifact) => artifact.path));
  const unlisted = [...found.keys()]
    .filter((path) => !listed.has(path))
    .map((path) => `${path}: not in the manifest`);
  const code: ErrorCode | undefined =
    mismatched.length > 0
      ? "BUNDLE_ARTIFACT_MISMATCH"
      : missing.length > 0
        ? "BUNDLE_ARTIFACT_MISSING"
        : unlisted.length > 0
          ? "BUNDLE_UNLISTED_FILE"
          : undefined;
  if (code === undefined) return;
  const problems = [...mismatched, ...missing, ...unlisted];
  throw new GroundcrewError(code, `${where}: ${problems.length} problem(s):\n  ${problems.join("\n  ")}`, {
    context: { bundle: where, artifact: (problems[0] ?? "").split(" ")[0] ?? "" },
  });
}
