import type { IncomingMessage, ServerResponse } from "node:http";
import { parseResourcePath } from "./api-paths.js";
import type { ClusterState } from "./cluster-state.js";
import { liveCluster } from "./cluster-view.js";
import { readBody, sendJson, sendStatus } from "./http-server.js";
import { kubeObjectSchema } from "./kube-object.js";
import type { ObjectStore } from "./object-store.js";
import { apiVersionOf, NODES, qualifiedPlural, type ResourceType } from "./resources.js";
import { withLiveStatus } from "./workload-status.js";

/**
 * The object API (admin token already checked), for every resource of
 * resources.ts but Nodes, at kube-apiserver's paths (api-paths.ts):
 *   GET    collection (one namespace, or all without one)   a `<Kind>List`
 *   GET    object                                          the object (DaemonSets and
 *                                                          Deployments with live status)
 *   PUT    object                                          creates or replaces it, keeping its status
 *   DELETE object                                          deletes it and what it owns
 * A missing object is k8s's NotFound (`storageclasses.storage.k8s.io "x" not found`).
 * Resolves false when the path names no such resource.
 */
export async function objectRoutes(
  state: ClusterState,
  objects: ObjectStore,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<boolean> {
  const target = parseResourcePath(pathname);
  if (target === undefined || target.type === NODES) return false;
  const { type, namespace, name } = target;
  const now = new Date();
  const live = liveCluster(state, objects, now);
  if (name === undefined) {
    if (req.method !== "GET") return false;
    const items = objects.list(type, namespace).map((object) => withLiveStatus(object, live, now));
    sendJson(res, 200, {
      apiVersion: apiVersionOf(type),
      kind: `${type.kind}List`,
      metadata: { resourceVersion: "" },
      items,
    });
    return true;
  }
  if (req.method === "PUT") {
    await put(objects, req, res, type, namespace, name);
    return true;
  }
  if (req.method !== "GET" && req.method !== "DELETE") return false;
  const found =
    req.method === "GET" ? objects.get(type, namespace, name) : objects.remove(type, namespace, name);
  if (found === undefined) notFound(res, type, name);
  else sendJson(res, 200, withLiveStatus(found, live, now));
  return true;
}

async function put(
  objects: ObjectStore,
  req: IncomingMessage,
  res: ServerResponse,
  type: ResourceType,
  namespace: string | undefined,
  name: string,
): Promise<void> {
  let document: unknown;
  try {
    document = JSON.parse(await readBody(req));
  } catch (error) {
    sendStatus(
      res,
      400,
      "BadRequest",
      `error decoding request body: ${error instanceof Error ? error.message : String(error)}`,
    );
    return;
  }
  const parsed = kubeObjectSchema.safeParse(document);
  if (!parsed.success) {
    sendStatus(res, 400, "BadRequest", `invalid object: ${parsed.error.issues[0]?.message ?? "unknown"}`);
    return;
  }
  const object = parsed.data;
  if (
    object.kind !== type.kind ||
    object.apiVersion !== apiVersionOf(type) ||
    object.metadata.name !== name
  ) {
    sendStatus(
      res,
      400,
      "BadRequest",
      `the object (${object.kind} ${object.metadata.name}) does not match the URL (${qualifiedPlural(type)} ${name})`,
    );
    return;
  }
  if (type.namespaced && object.metadata.namespace !== undefined && object.metadata.namespace !== namespace) {
    sendStatus(
      res,
      400,
      "BadRequest",
      "the namespace of the provided object does not match the namespace sent on the request",
    );
    return;
  }
  const stored = objects.put(
    type.namespaced
      ? { ...object, metadata: { ...object.metadata, namespace: namespace ?? "default" } }
      : object,
  );
  sendJson(res, stored.outcome === "created" ? 201 : 200, stored.object);
}

function notFound(res: ServerResponse, type: ResourceType, name: string): void {
  sendStatus(res, 404, "NotFound", `${qualifiedPlural(type)} "${name}" not found`, {
    name,
    ...(type.group === "" ? {} : { group: type.group }),
    kind: type.plural,
  });
}
