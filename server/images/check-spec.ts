import { GroundcrewError } from "../../shared/errors.js";
import { unsafePathReason } from "../bundle/safe-path.js";
import { parseImageReference, type ImageReference } from "./image-reference.js";
import { IMAGE_ARCHES, isImageDirectory, isImageSymlink, type ImageSpec } from "./image-spec.js";
import { ustarLinkProblem, ustarPathProblem } from "./ustar.js";

const ENV_ENTRY = /^[^=\0]+=[^\0]*$/;

/**
 * Validates everything in `spec` before anything is built or written, and
 * returns its parsed reference. Throws IMAGE_REFERENCE_INVALID for the
 * reference, and IMAGE_SPEC_INVALID naming the reference and the entry for:
 * an unknown arch; a path that is not a plain relative one, is too long for
 * ustar, is given twice, or lies under a file or symlink; a mode outside
 * 0..0o7777; an empty or over-long link target; an env entry that is not
 * "NAME=value"; a NUL in an argument. Must not touch the file system.
 */
export function checkImageSpec(spec: ImageSpec): ImageReference {
  const reference = parseImageReference(spec.reference);
  const invalid = (what: string, why: string): GroundcrewError =>
    new GroundcrewError("IMAGE_SPEC_INVALID", `image ${spec.reference}: ${what}: ${why}`, {
      context: { reference: spec.reference, what },
    });
  if (!(IMAGE_ARCHES as readonly string[]).includes(spec.arch)) {
    throw invalid("arch", `${JSON.stringify(spec.arch)} is not one of ${IMAGE_ARCHES.join(", ")}`);
  }
  const kinds = new Map<string, "file" | "symlink" | "directory">();
  for (const entry of spec.files) {
    const what = `entry ${JSON.stringify(entry.path)}`;
    const kind = isImageSymlink(entry) ? "symlink" : isImageDirectory(entry) ? "directory" : "file";
    const problem = unsafePathReason(entry.path) ?? ustarPathProblem(entry.path, kind === "directory");
    if (problem !== undefined) throw invalid(what, problem);
    if (kinds.has(entry.path)) throw invalid(what, "the path is given more than once");
    kinds.set(entry.path, kind);
    if (isImageSymlink(entry)) {
      const linkProblem = ustarLinkProblem(entry.linkTarget);
      if (linkProblem !== undefined) throw invalid(what, linkProblem);
    } else if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) {
      throw invalid(what, `mode ${entry.mode} is not a permission mode (0 to 0o7777)`);
    }
  }
  for (const path of kinds.keys()) {
    const segments = path.split("/");
    for (let depth = 1; depth < segments.length; depth++) {
      const parent = segments.slice(0, depth).join("/");
      const parentKind = kinds.get(parent);
      if (parentKind !== undefined && parentKind !== "directory") {
        throw invalid(
          `entry ${JSON.stringify(path)}`,
          `its parent ${JSON.stringify(parent)} is a ${parentKind}`,
        );
      }
    }
  }
  for (const env of spec.env ?? []) {
    if (!ENV_ENTRY.test(env)) throw invalid(`env ${JSON.stringify(env)}`, 'an env entry is "NAME=value"');
  }
  for (const [field, args] of [
    ["entrypoint", spec.entrypoint],
    ["cmd", spec.cmd],
  ] as const) {
    if (args?.some((arg) => arg.includes("\0")) === true) throw invalid(field, "an argument holds a NUL");
  }
  return reference;
}
