import { randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { FatalError } from "./fatal.js";
import { isNotFound } from "./files.js";
import { sameJson } from "./json-equality.js";
import { kubeObjectSchema, objectKey, typeOf, type KubeObject } from "./kube-object.js";
import { NODES, type ResourceType } from "./resources.js";

const fileSchema = z.object({
  version: z.literal(1),
  resourceVersion: z.number().int().min(0),
  objects: z.array(kubeObjectSchema),
});

/** An object whose kind the API does not serve (k8s: "no matches for kind"). */
export class UnknownKindError extends Error {
  override readonly name = "UnknownKindError";
}

/** What a put did: as `kubectl apply` says it (created, configured, unchanged). */
export type PutOutcome = "created" | "configured" | "unchanged";

/** Metadata the store maintains itself; what a writer sends there is ignored. */
const BOOKKEEPING = ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"];

/**
 * The cluster's objects other than Nodes, kept by the first server in
 * `<data-dir>/server/db/objects.json` (0600) and written through on every
 * change. Objects are keyed by group, kind, namespace (default `default`
 * for namespaced kinds; none for cluster-scoped ones) and name. The store
 * keeps uid, creationTimestamp, resourceVersion and generation; deleting an
 * object deletes its dependents (ownerReferences), as the garbage collector does.
 */
export class ObjectStore {
  private constructor(
    private readonly file: string | undefined,
    private readonly objects: Map<string, KubeObject>,
    private resourceVersion: number,
  ) {}

  static stateFile(dataDir: string): string {
    return path.join(dataDir, "server", "db", "objects.json");
  }

  /** Opens the store under `dataDir`, empty on first start. A damaged file is fatal. */
  static open(dataDir: string): ObjectStore {
    const file = ObjectStore.stateFile(dataDir);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return new ObjectStore(file, new Map(), 0);
    }
    const parsed = fileSchema.safeParse(parseJson(text));
    if (!parsed.success) throw new FatalError(`the datastore ${file} is damaged: ${parsed.error.message}`);
    const objects = new Map<string, KubeObject>();
    for (const object of parsed.data.objects) {
      const type = typeOf(object);
      if (type !== undefined)
        objects.set(objectKey(type, object.metadata.namespace, object.metadata.name), object);
    }
    return new ObjectStore(file, objects, parsed.data.resourceVersion);
  }

  /** A store that is never written to disk (unit tests). */
  static inMemory(): ObjectStore {
    return new ObjectStore(undefined, new Map(), 0);
  }

  /** Objects of `type`, in `namespace` or (undefined) in every namespace, ordered by namespace and name. */
  list(type: ResourceType, namespace?: string): KubeObject[] {
    return [...this.objects.values()]
      .filter((object) => typeOf(object) === type)
      .filter(
        (object) => namespace === undefined || !type.namespaced || object.metadata.namespace === namespace,
      )
      .sort((a, b) => orderKey(a).localeCompare(orderKey(b)));
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(objectKey(type, namespace, name));
  }

  /**
   * Creates or replaces an object. Its status is kept from the stored one
   * unless `status: "replace"` (a controller writing status); bookkeeping
   * metadata is the store's. An identical object is left alone ("unchanged").
   * Throws UnknownKindError for a kind the API does not serve.
   */
  put(
    object: KubeObject,
    options: { status?: "keep" | "replace" } = {},
  ): { object: KubeObject; outcome: PutOutcome } {
    const type = typeOf(object);
    if (type === undefined || type === NODES)
      throw new UnknownKindError(`no matches for kind "${object.kind}" in version "${object.apiVersion}"`);
    const namespace = type.namespaced ? (object.metadata.namespace ?? "default") : undefined;
    const key = objectKey(type, namespace, object.metadata.name);
    const existing = this.objects.get(key);
    const desired = content(object, namespace);
    const status = options.status === "replace" ? object["status"] : existing?.["status"];
    if (
      existing !== undefined &&
      sameJson(content(existing, namespace), desired) &&
      sameJson(existing["status"], status)
    )
      return { object: existing, outcome: "unchanged" };
    const generation = Number(existing?.metadata["generation"] ?? 0);
    const specChanged =
      existing === undefined || !sameJson(withoutMetadata(existing), withoutMetadata(desired));
    this.resourceVersion += 1;
    const stored: KubeObject = {
      ...desired,
      metadata: {
        ...desired.metadata,
        uid: existing?.metadata.uid ?? randomUUID(),
        resourceVersion: String(this.resourceVersion),
        generation: specChanged ? generation + 1 : generation,
        creationTimestamp: existing?.metadata["creationTimestamp"] ?? new Date().toISOString(),
      },
      ...(status === undefined ? {} : { status }),
    };
    this.objects.set(key, stored);
    this.save();
    return { object: stored, outcome: existing === undefined ? "created" : "configured" };
  }

  /** Replaces an object's status (a controller's write); undefined when there is no such object. */
  setStatus(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    status: unknown,
  ): KubeObject | undefined {
    const existing = this.get(type, namespace, name);
    return existing === undefined
      ? undefined
      : this.put({ ...existing, status }, { status: "replace" }).object;
  }

  /** Deletes an object and, recursively, every object it owns; resolves the deleted object, or undefined. */
  remove(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const key = objectKey(type, namespace, name);
    const existing = this.objects.get(key);
    if (existing === undefined) return undefined;
    this.objects.delete(key);
    this.removeDependents(existing.metadata.uid);
    this.resourceVersion += 1;
    this.save();
    return existing;
  }

  private removeDependents(uid: string | undefined): void {
    if (uid === undefined) return;
    for (const [key, object] of [...this.objects]) {
      if (object.metadata.ownerReferences?.some((owner) => owner.uid === uid) !== true) continue;
      this.objects.delete(key);
      this.removeDependents(object.metadata.uid);
    }
  }

  private save(): void {
    if (this.file === undefined) return;
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.tmp`;
    const document = {
      version: 1,
      resourceVersion: this.resourceVersion,
      objects: [...this.objects.values()],
    };
    writeFileSync(temporary, `${JSON.stringify(document)}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, this.file);
  }
}

/** The object as written: without status and bookkeeping, its namespace normalized. */
function content(object: KubeObject, namespace: string | undefined): KubeObject {
  const metadata = Object.fromEntries(
    Object.entries(object.metadata).filter(
      ([field]) => !BOOKKEEPING.includes(field) && field !== "namespace",
    ),
  );
  return {
    ...without(object, ["status"]),
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: { ...metadata, name: object.metadata.name, ...(namespace === undefined ? {} : { namespace }) },
  };
}

function withoutMetadata(object: KubeObject): Record<string, unknown> {
  return without(object, ["metadata", "status"]);
}

function without(
  object: Readonly<Record<string, unknown>>,
  fields: readonly string[],
): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([field]) => !fields.includes(field)));
}

function orderKey(object: KubeObject): string {
  return `${object.metadata.namespace ?? ""}/${object.metadata.name}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
