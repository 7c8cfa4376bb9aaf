import { parseAllDocuments } from "yaml";
import { kubeObjectSchema, recordAt, type KubeObject } from "./kube-object.js";

/** A manifest that does not parse into Kubernetes objects; the message is the parser's or the decoder's. */
export class ManifestError extends Error {
  override readonly name = "ManifestError";
}

/**
 * The objects of a manifest as k3s (and kubectl) read one: each YAML
 * document (YAML 1.1 like Go's parser; JSON is YAML) that is not empty is
 * one object, and a `List` contributes its items. Every object needs
 * `apiVersion`, `kind` and `metadata.name`. Throws ManifestError.
 */
export function manifestObjects(text: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const document of parseAllDocuments(text, { version: "1.1" })) {
    const problem = document.errors[0];
    if (problem !== undefined) throw new ManifestError(`error converting YAML to JSON: ${problem.message}`);
    const value: unknown = document.toJS({ maxAliasCount: 1000 });
    if (value === null || value === undefined) continue;
    const mapping = recordAt(value);
    if (mapping === undefined)
      throw new ManifestError(
        `json: cannot unmarshal ${Array.isArray(value) ? "array" : typeof value} into Go value of type map[string]interface {}`,
      );
    const items = mapping["items"];
    if (typeof mapping["kind"] === "string" && mapping["kind"].endsWith("List") && Array.isArray(items)) {
      for (const item of items) objects.push(toObject(item));
    } else {
      objects.push(toObject(mapping));
    }
  }
  return objects;
}

function toObject(value: unknown): KubeObject {
  const mapping = recordAt(value) ?? {};
  const shown = JSON.stringify(value).slice(0, 200);
  if (typeof mapping["kind"] !== "string" || mapping["kind"] === "")
    throw new ManifestError(`Object 'Kind' is missing in '${shown}'`);
  if (typeof mapping["apiVersion"] !== "string" || mapping["apiVersion"] === "")
    throw new ManifestError(`Object 'apiVersion' is missing in '${shown}'`);
  const parsed = kubeObjectSchema.safeParse(value);
  if (!parsed.success) {
    const name = recordAt(mapping["metadata"])?.["name"];
    throw new ManifestError(
      typeof name === "string" && name !== ""
        ? `invalid ${mapping["kind"]} ${name}: ${parsed.error.issues[0]?.path.join(".") ?? ""}: ${parsed.error.issues[0]?.message ?? ""}`
        : `resource name may not be empty (${mapping["kind"]})`,
    );
  }
  return parsed.data;
}
