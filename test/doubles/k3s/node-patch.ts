import { sameJson } from "./json-equality.js";
import type { Taint } from "./labels.js";
import { mergePatch } from "./merge-patch.js";
import { objectAt, stringMap, taintList, type FieldCause } from "./node-fields.js";

/** The parts of a Node that a patch may change in the double. */
export interface NodeMetadata {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly taints: Taint[];
}

/** A refusal as the API server answers it: HTTP code, reason and message of a `v1 Status`, and field causes. */
export interface PatchRefusal {
  readonly code: number;
  readonly reason: "BadRequest" | "Invalid";
  readonly message: string;
  readonly causes?: readonly { readonly field: string; readonly message: string }[];
}

export type NodePatchResult =
  { readonly ok: true; readonly node: NodeMetadata } | ({ readonly ok: false } & PatchRefusal);

/** Fields a merge patch may touch: the Node's labels, annotations and taints (status is ignored, as on the main resource). */
const METADATA_FIELDS = new Set(["labels", "annotations", "resourceVersion", "managedFields"]);
/**
 * Applies a JSON merge patch (RFC 7386) to the Node `current` (as the API
 * shows it) and validates the result as the API server does: labels and
 * annotations are maps of strings with valid keys (and label values), taints
 * have a valid key, an optional valid value and an effect of NoSchedule,
 * PreferNoSchedule or NoExecute, no key/effect pair twice. Changing any
 * other field is refused as not implemented. Pure.
 */
export function applyNodePatch(
  name: string,
  current: Record<string, unknown>,
  patch: unknown,
): NodePatchResult {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch))
    return {
      ok: false,
      code: 400,
      reason: "BadRequest",
      message: "the patch must be a JSON object (merge patch)",
    };
  const merged = objectAt(mergePatch(current, patch));
  const metadata = objectAt(merged["metadata"]);
  const spec = objectAt(merged["spec"]);
  const unsupported = [
    ...changedFields("metadata", objectAt(current["metadata"]), metadata, METADATA_FIELDS),
    ...changedFields("spec", objectAt(current["spec"]), spec, new Set(["taints"])),
    ...["apiVersion", "kind"].filter((field) => merged[field] !== current[field]),
  ];
  if (unsupported.length > 0)
    return {
      ok: false,
      code: 400,
      reason: "BadRequest",
      message: `changing ${unsupported.join(", ")} of a Node is not implemented by the test double`,
    };
  const causes: FieldCause[] = [];
  const labels = stringMap("metadata.labels", metadata["labels"], causes, true);
  const annotations = stringMap("metadata.annotations", metadata["annotations"], causes, false);
  const taints = taintList(spec["taints"], causes);
  if (labels === undefined || annotations === undefined || taints === undefined) {
    const cause = causes[0];
    return {
      ok: false,
      code: 400,
      reason: "BadRequest",
      message: cause === undefined ? "invalid patch" : cause.message,
    };
  }
  if (causes.length > 0) {
    const listed = causes.map((cause) => `${cause.field}: ${cause.message}`);
    const text = listed.length === 1 ? (listed[0] ?? "") : `[${listed.join(", ")}]`;
    return { ok: false, code: 422, reason: "Invalid", message: `Node "${name}" is invalid: ${text}`, causes };
  }
  return { ok: true, node: { labels, annotations, taints } };
}

/** `prefix.field` for each field other than `allowed` whose value differs. */
function changedFields(
  prefix: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  allowed: ReadonlySet<string>,
): string[] {
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...fields]
    .filter((field) => !allowed.has(field) && !sameJson(before[field], after[field]))
    .map((field) => `${prefix}.${field}`);
}
