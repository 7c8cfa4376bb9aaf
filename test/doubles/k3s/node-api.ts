import type { IncomingMessage, ServerResponse } from "node:http";
import type { ClusterState } from "./cluster-state.js";
import { liveCluster } from "./cluster-view.js";
import { readBody, sendJson, sendStatus } from "./http-server.js";
import { info } from "./log.js";
import { nodeObject } from "./node-object.js";
import { applyNodePatch } from "./node-patch.js";
import type { ObjectStore } from "./object-store.js";

const MERGE_PATCH_TYPES = ["application/merge-patch+json", "application/strategic-merge-patch+json"];

/**
 * The Node API (admin token already checked):
 *   GET    /api/v1/nodes          a NodeList
 *   GET    /api/v1/nodes/NAME     a Node
 *   DELETE /api/v1/nodes/NAME     deletes the Node and its node password
 *   PATCH  /api/v1/nodes/NAME     a merge patch of labels, annotations, taints (node-patch.ts);
 *                                 strategic merge patches are taken as merge patches (the same
 *                                 for these fields), JSON patches refused (415)
 * Resolves false when the request is not for this API.
 */
export async function nodeRoutes(
  state: ClusterState,
  objects: ObjectStore,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<boolean> {
  const now = new Date();
  const live = liveCluster(state, objects, now);
  if (pathname === "/api/v1/nodes" && req.method === "GET") {
    const items = state.nodes().map((node) => nodeObject(node, now, live.gpusOf(node.name)));
    sendJson(res, 200, {
      apiVersion: "v1",
      kind: "NodeList",
      metadata: { resourceVersion: String(now.getTime()) },
      items,
    });
    return true;
  }
  const named = /^\/api\/v1\/nodes\/([^/]+)$/.exec(pathname);
  if (named === null || !["GET", "DELETE", "PATCH"].includes(req.method ?? "")) return false;
  const name = decodeURIComponent(named[1] ?? "");
  const node = state.node(name);
  const body = req.method === "PATCH" ? await readBody(req) : "";
  if (node === undefined) {
    sendStatus(res, 404, "NotFound", `nodes "${name}" not found`, { name, kind: "nodes" });
    return true;
  }
  const current = nodeObject(node, now, live.gpusOf(name));
  if (req.method === "GET") {
    sendJson(res, 200, current);
  } else if (req.method === "DELETE") {
    state.remove(name);
    info(`Deleted node ${name} and its node password secret ${name}.node-password.k3s`);
    sendJson(res, 200, current);
  } else {
    patchNode(state, req, res, { name, current, body, gpus: live.gpusOf(name), now });
  }
  return true;
}

function patchNode(
  state: ClusterState,
  req: IncomingMessage,
  res: ServerResponse,
  request: { name: string; current: Record<string, unknown>; body: string; gpus: number; now: Date },
): void {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
  if (!MERGE_PATCH_TYPES.includes(type)) {
    sendStatus(
      res,
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: ${MERGE_PATCH_TYPES.join(", ")} (test double)`,
    );
    return;
  }
  let patch: unknown;
  try {
    patch = JSON.parse(request.body);
  } catch (error) {
    sendStatus(
      res,
      400,
      "BadRequest",
      `error decoding patch: ${error instanceof Error ? error.message : String(error)}`,
    );
    return;
  }
  const result = applyNodePatch(request.name, request.current, patch);
  if (!result.ok) {
    const causes = result.causes?.map((cause) => ({ reason: "FieldValueInvalid", ...cause }));
    sendStatus(res, result.code, result.reason, result.message, {
      name: request.name,
      kind: "Node",
      ...(causes === undefined ? {} : { causes }),
    });
    return;
  }
  const updated = state.updateMetadata(request.name, result.node);
  if (updated === undefined) {
    sendStatus(res, 404, "NotFound", `nodes "${request.name}" not found`, {
      name: request.name,
      kind: "nodes",
    });
    return;
  }
  sendJson(res, 200, nodeObject(updated, request.now, request.gpus));
}
