import { NODES, resolveResource, type ResourceType } from "../resources.js";
import { KubectlError } from "./client.js";

/** What a kubectl command names: one resource type and the object names ([] = all). */
export interface Targets {
  readonly type: ResourceType;
  readonly names: readonly string[];
}

/**
 * `TYPE [NAME...]` or `TYPE/NAME...` (one type), TYPE as kubectl takes it
 * (resources.ts resolveResource). An unknown type is kubectl's
 * `the server doesn't have a resource type`.
 */
export function parseTargets(positional: readonly string[]): Targets {
  const [first, ...rest] = positional;
  if (first === undefined) throw new KubectlError("error: you must specify the type of resource to get");
  if (first.includes("/")) {
    const pairs = positional.map((item) => {
      const slash = item.indexOf("/");
      if (slash === -1)
        throw new KubectlError(
          `error: there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'`,
        );
      return { type: typeOf(item.slice(0, slash)), name: item.slice(slash + 1) };
    });
    const type = pairs[0]?.type ?? NODES;
    if (pairs.some((pair) => pair.type !== type))
      throw new KubectlError("error: several resource types at once are not implemented by the test double");
    return { type, names: pairs.map((pair) => pair.name) };
  }
  return { type: typeOf(first), names: rest };
}

function typeOf(text: string): ResourceType {
  const type = resolveResource(text);
  if (type === undefined) throw new KubectlError(`error: the server doesn't have a resource type "${text}"`);
  return type;
}
