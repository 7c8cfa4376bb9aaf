import { createHash } from "node:crypto";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { messageOf } from "./fatal.js";
import { isNotFound } from "./files.js";
import { gvkString, objectKey, specOf, typeOf, typeOfGvk, type KubeObject } from "./kube-object.js";
import { error as logError, info } from "./log.js";
import { addonNameOf, planManifests } from "./manifest-files.js";
import { ManifestError, manifestObjects } from "./manifest-objects.js";
import type { ObjectApi } from "./object-api.js";
import { ADDONS, apiVersionOf, type ResourceType } from "./resources.js";

/** How often the folder is scanned (k3s: 15 s; the double is quicker so tests need not wait). */
export const DEPLOY_INTERVAL_MS = 2_000;
export const ADDON_NAMESPACE = "kube-system";
/** The Addon annotation listing the kinds its manifest applied last (k3s's `addon.k3s.cattle.io/gvks`). */
export const GVK_ANNOTATION = "addon.k3s.cattle.io/gvks";
/** What wrangler's apply marks an applied object with: the Addon that owns it. */
export const OWNER_ANNOTATIONS = {
  gvk: "objectset.rio.cattle.io/owner-gvk",
  name: "objectset.rio.cattle.io/owner-name",
  namespace: "objectset.rio.cattle.io/owner-namespace",
} as const;

/**
 * k3s's deploy controller for one server's `<data-dir>/server/manifests`
 * (manifest-files.ts says which files count). Each pass: a disabled
 * component's manifest has its Addon and objects deleted and the file
 * removed; every other manifest is applied when its mtime changed since it
 * was last applied and its sha256 differs from its Addon's `spec.checksum`.
 * The first pass after start is forced (every manifest applied again,
 * checksum or not), and so is every pass after one that had an error, as
 * in k3s. Applying creates the Addon `kube-system/<name>` (`spec.source`),
 * creates or replaces each object (owned by the Addon through wrangler's
 * annotations), deletes objects the Addon applied before that the file no
 * longer has, then records `spec.checksum` and the kinds. A file that does
 * not parse is logged (`Failed to process config: ...`, once per message) and
 * retried. Objects go through `api`: the datastore's own server, or the
 * first server's API from a joined server.
 */
export class DeployController {
  private readonly modTimes = new Map<string, number>();
  private readonly reported = new Map<string, string>();
  private force = true;

  constructor(
    private readonly dir: string,
    private readonly disabled: ReadonlySet<string>,
    private readonly api: ObjectApi,
  ) {}

  /** One pass over the folder. Never rejects: failures are logged. */
  async sync(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if (!isNotFound(error)) this.report(this.dir, error);
      return;
    }
    let failed = false;
    for (const entry of planManifests(names, this.disabled)) {
      const file = path.join(this.dir, entry.name);
      try {
        if (entry.action === "delete") await this.remove(file);
        else await this.deployIfChanged(file);
        this.reported.delete(file);
      } catch (error) {
        failed = true;
        this.report(file, error);
      }
    }
    if (!failed) this.force = false;
  }

  private async deployIfChanged(file: string): Promise<void> {
    const stats = await stat(file);
    if (!stats.isFile()) return;
    if (!this.force && stats.mtimeMs === this.modTimes.get(file)) return;
    await this.deploy(file, !this.force);
    this.modTimes.set(file, stats.mtimeMs);
  }

  private async deploy(file: string, compareChecksum: boolean): Promise<void> {
    const name = addonNameOf(file);
    const addon =
      (await this.api.get(ADDONS, ADDON_NAMESPACE, name)) ??
      (await this.api.put({
        apiVersion: apiVersionOf(ADDONS),
        kind: ADDONS.kind,
        metadata: { name, namespace: ADDON_NAMESPACE },
        spec: { source: file },
      }));
    const content = await readFile(file);
    const checksum = createHash("sha256").update(content).digest("hex");
    if (compareChecksum && specOf(addon)["checksum"] === checksum) return;
    const objects = manifestObjects(content.toString("utf8"));
    const types = objects.map((object) => {
      const type = typeOf(object);
      if (type === undefined)
        throw new ManifestError(`no matches for kind "${object.kind}" in version "${object.apiVersion}"`);
      return type;
    });
    const keep = new Set<string>();
    for (const object of objects) {
      const stored = await this.api.put(owned(object, name));
      const type = typeOf(stored);
      if (type !== undefined) keep.add(objectKey(type, stored.metadata.namespace, stored.metadata.name));
    }
    await this.prune(name, [...types, ...appliedTypes(addon)], keep);
    await this.api.put({
      ...addon,
      metadata: {
        ...addon.metadata,
        annotations: {
          ...addon.metadata.annotations,
          [GVK_ANNOTATION]: [...new Set(types.map(gvkString))].join(";"),
        },
      },
      spec: { ...specOf(addon), source: file, checksum },
    });
    info(`Applied manifest at "${file}" (${objects.length} object(s))`);
  }

  /** A disabled component: its Addon, then every object it applied or its file names, then the file. */
  private async remove(file: string): Promise<void> {
    const name = addonNameOf(file);
    const addon = await this.api.get(ADDONS, ADDON_NAMESPACE, name);
    const types = addon === undefined ? [] : appliedTypes(addon);
    try {
      types.push(...manifestObjects(await readFile(file, "utf8")).flatMap((object) => typeOf(object) ?? []));
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
    }
    if (addon !== undefined) await this.api.remove(ADDONS, ADDON_NAMESPACE, name);
    await this.prune(name, types, new Set());
    await rm(file, { force: true });
    info(`Deleted manifest at "${file}": packaged component ${name} is disabled`);
  }

  /** Deletes the objects of `types` that Addon `name` owns, except those in `keep`. */
  private async prune(
    name: string,
    types: readonly ResourceType[],
    keep: ReadonlySet<string>,
  ): Promise<void> {
    for (const type of new Set(types)) {
      for (const object of await this.api.list(type)) {
        const annotations = object.metadata.annotations ?? {};
        if (
          annotations[OWNER_ANNOTATIONS.name] !== name ||
          annotations[OWNER_ANNOTATIONS.namespace] !== ADDON_NAMESPACE
        )
          continue;
        if (keep.has(objectKey(type, object.metadata.namespace, object.metadata.name))) continue;
        await this.api.remove(type, object.metadata.namespace, object.metadata.name);
      }
    }
  }

  private report(file: string, error: unknown): void {
    const message = `Failed to process config: failed to process ${file}: ${messageOf(error)}`;
    if (this.reported.get(file) === message) return;
    this.reported.set(file, message);
    logError(message);
  }
}

/** Runs the controller now and then every DEPLOY_INTERVAL_MS (a pass never overlaps the previous one); returns its stop. */
export function startDeployController(controller: DeployController): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = (): void => {
    void controller.sync().then(() => {
      if (!stopped) timer = setTimeout(loop, DEPLOY_INTERVAL_MS);
    });
  };
  loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The object as the deploy controller applies it: marked as owned by Addon `addon`. */
function owned(object: KubeObject, addon: string): KubeObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: {
        ...object.metadata.annotations,
        [OWNER_ANNOTATIONS.gvk]: "k3s.cattle.io/v1, Kind=Addon",
        [OWNER_ANNOTATIONS.name]: addon,
        [OWNER_ANNOTATIONS.namespace]: ADDON_NAMESPACE,
      },
    },
  };
}

/** The kinds an Addon's manifest applied last (its GVK annotation). */
function appliedTypes(addon: KubeObject): ResourceType[] {
  const recorded = addon.metadata.annotations?.[GVK_ANNOTATION] ?? "";
  return recorded.split(";").flatMap((text) => typeOfGvk(text) ?? []);
}
