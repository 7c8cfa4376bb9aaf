import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../doubles/k3s/kube-object.js";
import { ObjectStore, UnknownKindError } from "../doubles/k3s/object-store.js";
import { DEPLOYMENTS, JOBS, RUNTIME_CLASSES } from "../doubles/k3s/resources.js";

const runtimeClass = (name: string, handler = name): KubeObject => ({
  apiVersion: "node.k8s.io/v1",
  kind: "RuntimeClass",
  metadata: { name, namespace: "ignored" },
  handler,
});

describe("k3s double: the object store", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "k3s-double-store-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates, leaves identical objects alone, replaces changed ones keeping uid and creation time", () => {
    const store = ObjectStore.inMemory();
    const created = store.put(runtimeClass("nvidia"));
    expect(created.outcome).toBe("created");
    expect(created.object.metadata).toMatchObject({ name: "nvidia", generation: 1 });
    expect(created.object.metadata.namespace).toBeUndefined();
    expect(store.put(runtimeClass("nvidia")).outcome).toBe("unchanged");
    const replaced = store.put(runtimeClass("nvidia", "nvidia-cdi"));
    expect(replaced.outcome).toBe("configured");
    expect(replaced.object.metadata).toMatchObject({ uid: created.object.metadata.uid, generation: 2 });
    expect(replaced.object.metadata["creationTimestamp"]).toBe(created.object.metadata["creationTimestamp"]);
    expect(store.get(RUNTIME_CLASSES, undefined, "nvidia")?.["handler"]).toBe("nvidia-cdi");
  });

  it("puts namespaced objects in default unless named, keeps status unless a controller replaces it", () => {
    const store = ObjectStore.inMemory();
    const deployment: KubeObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: { replicas: 1 },
    };
    store.put(deployment);
    expect(store.list(DEPLOYMENTS, "default").map((item) => item.metadata.namespace)).toEqual(["default"]);
    store.setStatus(DEPLOYMENTS, "default", "web", { readyReplicas: 1 });
    store.put({ ...deployment, spec: { replicas: 2 }, status: { readyReplicas: 9 } });
    expect(store.get(DEPLOYMENTS, "default", "web")?.["status"]).toEqual({ readyReplicas: 1 });
    expect(store.list(DEPLOYMENTS, "other")).toEqual([]);
  });

  it("refuses kinds the API does not serve", () => {
    const store = ObjectStore.inMemory();
    expect(() =>
      store.put({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }),
    ).toThrow(new UnknownKindError('no matches for kind "Widget" in version "example.com/v1"'));
  });

  it("deletes what an object owns, recursively", () => {
    const store = ObjectStore.inMemory();
    const owner = store.put(runtimeClass("owner")).object;
    const owned = (name: string, uid: string | undefined): KubeObject => ({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name,
        namespace: "kube-system",
        ownerReferences: [{ apiVersion: "v1", kind: "X", name: "x", uid: uid ?? "" }],
      },
    });
    const child = store.put(owned("child", owner.metadata.uid)).object;
    store.put(owned("grandchild", child.metadata.uid));
    store.put(owned("unrelated", "someone-else"));
    store.remove(RUNTIME_CLASSES, undefined, "owner");
    expect(store.list(JOBS).map((job) => job.metadata.name)).toEqual(["unrelated"]);
  });

  it("persists every change to <data-dir>/server/db/objects.json (0600) and reads it back", async () => {
    const store = ObjectStore.open(dir);
    store.put(runtimeClass("nvidia"));
    const file = ObjectStore.stateFile(dir);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, "utf8")).toContain('"nvidia"');
    const reopened = ObjectStore.open(dir);
    expect(reopened.get(RUNTIME_CLASSES, undefined, "nvidia")?.metadata.uid).toBe(
      store.get(RUNTIME_CLASSES, undefined, "nvidia")?.metadata.uid,
    );
    expect(reopened.put(runtimeClass("next")).object.metadata["resourceVersion"]).toBe("2");
  });
});
