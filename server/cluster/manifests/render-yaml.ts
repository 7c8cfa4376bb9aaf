import { stringify } from "yaml";
import { KEEP_RESOURCES_MARKER } from "../../../shared/cluster-manifests.js";

/** One file for k3s's auto-deploy directory: its basename (without `.yaml`) and content. */
export interface ClusterManifest {
  /** RFC 1123, prefixed `groundcrew-`: k3s names the AddOn after it (manifest-names.ts). */
  readonly name: string;
  readonly content: string;
}

/**
 * A Kubernetes object as manifest text: a header naming its writer, then
 * the object as YAML with lines never folded (base64 chart content and
 * values stay byte-exact). Deterministic: the same object gives the same
 * text, so re-runs compare equal and k3s does not re-apply. `keepOnReset`
 * adds KEEP_RESOURCES_MARKER: reset then removes the file but not its objects.
 */
export function renderObject(
  what: string,
  object: Readonly<Record<string, unknown>>,
  options: { readonly keepOnReset?: boolean } = {},
): string {
  return renderObjects(what, [object], options);
}

/**
 * Several objects as one manifest: the same header, then each object as a
 * YAML document, separated by `---`, in the order given (put a Namespace
 * before what lives in it: `kubectl apply -f` goes in file order). Deterministic.
 */
export function renderObjects(
  what: string,
  objects: readonly Readonly<Record<string, unknown>>[],
  options: { readonly keepOnReset?: boolean } = {},
): string {
  const header = [
    `# Written by groundcrew (k3s.manifests): ${what}. Do not edit: groundcrew rewrites it.`,
    ...(options.keepOnReset === true ? [KEEP_RESOURCES_MARKER] : []),
  ];
  const documents = objects.map((object) =>
    stringify(object, { lineWidth: 0, minContentWidth: 0, aliasDuplicateObjects: false }),
  );
  return `${header.join("\n")}\n${documents.join("---\n")}`;
}
