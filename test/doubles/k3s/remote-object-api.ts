import { z } from "zod";
import { resourcePath } from "./api-paths.js";
import { httpsRequest } from "./https-client.js";
import { kubeObjectSchema, typeOf, type KubeObject } from "./kube-object.js";
import type { ObjectApi } from "./object-api.js";

const listSchema = z.object({ items: z.array(kubeObjectSchema) });
const statusSchema = z.object({ message: z.string() });

/**
 * The object API of the server a joined server joined (which holds the
 * datastore), reached over HTTPS with the cluster CA and the admin bearer
 * token (a secret: never logged). Non-2xx answers other than a NotFound on
 * get/remove reject with the API's message.
 */
export function remoteObjectApi(seed: URL, caCertPem: string, adminToken: string): ObjectApi {
  const send = async (
    method: string,
    apiPath: string,
    body?: unknown,
  ): Promise<{ status: number; value: unknown }> => {
    const answer = await httpsRequest(new URL(apiPath, seed), {
      method,
      ca: caCertPem,
      headers: {
        authorization: `Bearer ${adminToken}`,
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      timeoutMs: 30_000,
    });
    const value = parseJson(answer.body);
    if (answer.status === 404 && method !== "PUT") return { status: 404, value };
    if (answer.status < 200 || answer.status >= 300) {
      const status = statusSchema.safeParse(value);
      throw new Error(
        `${method} ${apiPath}: ${answer.status} ${status.success ? status.data.message : answer.body.trim().slice(0, 200)}`,
      );
    }
    return { status: answer.status, value };
  };
  return {
    async get(type, namespace, name) {
      const { status, value } = await send(
        "GET",
        resourcePath({ type, namespace: namespace ?? "default", name }),
      );
      return status === 404 ? undefined : kubeObjectSchema.parse(value);
    },
    async list(type) {
      const { status, value } = await send("GET", resourcePath({ type }));
      return status === 404 ? [] : listSchema.parse(value).items;
    },
    async put(object: KubeObject) {
      const type = typeOf(object);
      if (type === undefined)
        throw new Error(`no matches for kind "${object.kind}" in version "${object.apiVersion}"`);
      const target = { type, namespace: object.metadata.namespace ?? "default", name: object.metadata.name };
      return kubeObjectSchema.parse((await send("PUT", resourcePath(target), object)).value);
    },
    async remove(type, namespace, name) {
      const { status } = await send(
        "DELETE",
        resourcePath({ type, namespace: namespace ?? "default", name }),
      );
      return status !== 404;
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
