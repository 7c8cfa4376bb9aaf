import { z } from "zod";
import { resourceForKind, type ResourceType } from "./resources.js";

/** An object of the Kubernetes API: what the double checks (kind, apiVersion, metadata) and everything else as is. */
export const kubeObjectSchema = z
  .object({
    apiVersion: z.string().min(1),
    kind: z.string().min(1),
    metadata: z
      .object({
        name: z.string().min(1),
        namespace: z.string().min(1).optional(),
        uid: z.string().optional(),
        labels: z.record(z.string()).optional(),
        annotations: z.record(z.string()).optional(),
        ownerReferences: z
          .array(
            z
              .object({ apiVersion: z.string(), kind: z.string(), name: z.string(), uid: z.string() })
              .passthrough(),
          )
          .optional(),
      })
      .passthrough(),
  })
  .passthrough();
export type KubeObject = z.infer<typeof kubeObjectSchema>;

/** A mapping, or undefined: for reading the untyped parts of an object (spec, status). */
export function recordAt(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The object's `spec` (empty when it has none). */
export function specOf(object: KubeObject): Readonly<Record<string, unknown>> {
  return recordAt(object["spec"]) ?? {};
}

/** The resource type of an object; undefined when the API has no such kind. */
export function typeOf(object: KubeObject): ResourceType | undefined {
  return resourceForKind(object.apiVersion, object.kind);
}

/** The object's identity in the store: group, kind, namespace (cluster-scoped: none) and name. */
export function objectKey(type: ResourceType, namespace: string | undefined, name: string): string {
  return [type.group, type.kind, type.namespaced ? (namespace ?? "default") : "", name].join("/");
}

/** `group/version, Kind=X` (core: `/v1, Kind=X`): Go's GroupVersionKind string, as k3s records the kinds an Addon applied. */
export function gvkString(type: ResourceType): string {
  return `${type.group}/${type.version}, Kind=${type.kind}`;
}

/** The resource type of a GroupVersionKind string; undefined when malformed or unknown. */
export function typeOfGvk(text: string): ResourceType | undefined {
  const [groupVersion = "", kind = ""] = text.split(", Kind=");
  const [group = "", version = ""] = groupVersion.split("/");
  return resourceForKind(group === "" ? version : `${group}/${version}`, kind);
}
