import { RESOURCES, type ResourceType } from "./resources.js";

/** One resource URL: a collection (no `name`), possibly across namespaces (no `namespace`), or one object. */
export interface ResourcePath {
  readonly type: ResourceType;
  readonly namespace?: string;
  readonly name?: string;
}

/**
 * The API path of a resource, as kube-apiserver lays them out:
 * `/api/v1[/namespaces/NS]/PLURAL[/NAME]` for the core group,
 * `/apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME]` for the others.
 * `namespace` is ignored for cluster-scoped types.
 */
export function resourcePath(target: ResourcePath): string {
  const { type, namespace, name } = target;
  const base = type.group === "" ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const scope =
    type.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${scope}/${type.plural}${name === undefined ? "" : `/${encodeURIComponent(name)}`}`;
}

/** The resource a request path names; undefined when it names none the double serves. */
export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const parts = pathname
    .split("/")
    .filter((part) => part !== "")
    .map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (parts[0] === "api" && parts[1] !== undefined) {
    group = "";
    rest = parts.slice(1);
  } else if (parts[0] === "apis" && parts[1] !== undefined && parts[2] !== undefined) {
    group = parts[1];
    rest = parts.slice(2);
  } else {
    return undefined;
  }
  const [version, ...tail] = rest;
  let namespace: string | undefined;
  if (tail[0] === "namespaces" && tail.length >= 3) {
    namespace = tail[1];
    tail.splice(0, 2);
  }
  if (tail.length < 1 || tail.length > 2) return undefined;
  const [plural, name] = tail;
  const type = RESOURCES.find(
    (item) => item.group === group && item.version === version && item.plural === plural,
  );
  if (type === undefined || (namespace !== undefined && !type.namespaced)) return undefined;
  return { type, ...(namespace === undefined ? {} : { namespace }), ...(name === undefined ? {} : { name }) };
}
