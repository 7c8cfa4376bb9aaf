import type { KubeObject } from "./kube-object.js";
import type { ObjectStore } from "./object-store.js";
import type { ResourceType } from "./resources.js";

/**
 * The object API as a controller uses it: on the first server the store
 * itself (localObjectApi), on a joined server the first server's API over
 * HTTPS (remote-object-api.ts). Rejections carry the API's message.
 */
export interface ObjectApi {
  get(type: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject | undefined>;
  /** Objects of `type` in every namespace. */
  list(type: ResourceType): Promise<KubeObject[]>;
  /** Creates or replaces the object (its status is kept); resolves the stored object. */
  put(object: KubeObject): Promise<KubeObject>;
  /** Deletes an object (and what it owns); false when there was none. */
  remove(type: ResourceType, namespace: string | undefined, name: string): Promise<boolean>;
}

export function localObjectApi(store: ObjectStore): ObjectApi {
  return {
    get: (type, namespace, name) => Promise.resolve(store.get(type, namespace, name)),
    list: (type) => Promise.resolve(store.list(type)),
    put: (object) => {
      try {
        return Promise.resolve(store.put(object).object);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
    remove: (type, namespace, name) => Promise.resolve(store.remove(type, namespace, name) !== undefined),
  };
}
