import { mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeployController, GVK_ANNOTATION } from "../doubles/k3s/deploy-controller.js";
import { planManifests } from "../doubles/k3s/manifest-files.js";
import { ManifestError, manifestObjects } from "../doubles/k3s/manifest-objects.js";
import { localObjectApi } from "../doubles/k3s/object-api.js";
import { ObjectStore } from "../doubles/k3s/object-store.js";
import { stagePackagedManifests } from "../doubles/k3s/packaged-manifests.js";
import { ADDONS, HELM_CHARTS, RUNTIME_CLASSES, resolveResource } from "../doubles/k3s/resources.js";

const STORAGE_CLASSES = resolveResource("sc")!;
const SETTINGS = { localStoragePath: "/var/lib/rancher/k3s/storage", systemDefaultRegistry: "" };

const storageClass = (name: string): string =>
  `apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: ${name}\nprovisioner: example.com/${name}\n`;
const helmChart = (name: string): string =>
  `apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: ${name}\n  namespace: kube-system\nspec:\n  chart: ${name}\n`;

describe("k3s double: reading manifests", () => {
  it("splits documents, skips empty ones, expands Lists, reads JSON", () => {
    const text = `# comment\n---\n${storageClass("a")}---\n---\napiVersion: v1\nkind: List\nitems:\n- ${JSON.stringify(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "c" },
      },
    )}\n`;
    expect(manifestObjects(text).map((object) => `${object.kind}/${object.metadata.name}`)).toEqual([
      "StorageClass/a",
      "ConfigMap/c",
    ]);
    expect(
      manifestObjects(JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "n" } })),
    ).toHaveLength(1);
  });

  it("refuses what is not a Kubernetes object", () => {
    expect(() => manifestObjects("a: [1\n")).toThrow(ManifestError);
    expect(() => manifestObjects("metadata:\n  name: x\n")).toThrow("Object 'Kind' is missing in");
    expect(() => manifestObjects("kind: Namespace\n")).toThrow("Object 'apiVersion' is missing in");
    expect(() => manifestObjects("- a\n")).toThrow("cannot unmarshal array");
  });

  it("plans the folder as k3s does: disabled deleted, dotfiles, .skip and non-manifests left alone", () => {
    const names = [
      "runtimes.yaml",
      "b.yml",
      "a.JSON",
      ".hidden.yaml",
      "c.yaml",
      "c.yaml.skip",
      "notes.txt",
      "local-storage.yaml",
    ];
    expect(planManifests(names, new Set(["local-storage"]))).toEqual([
      { name: "a.JSON", action: "deploy" },
      { name: "b.yml", action: "deploy" },
      { name: "local-storage.yaml", action: "delete" },
      { name: "runtimes.yaml", action: "deploy" },
    ]);
  });
});

describe("k3s double: the deploy controller", () => {
  let dir: string;
  let store: ObjectStore;
  let logged: string[];
  const controller = (disabled: readonly string[] = []): DeployController =>
    new DeployController(dir, new Set(disabled), localObjectApi(store));
  /** Rewrites a file with a later mtime, as an edit would. */
  const edit = async (name: string, content: string, seconds: number): Promise<void> => {
    await writeFile(path.join(dir, name), content);
    const when = new Date(Date.now() + seconds * 1000);
    await utimes(path.join(dir, name), when, when);
  };
  const scNames = (): string[] => store.list(STORAGE_CLASSES).map((object) => object.metadata.name);

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "k3s-double-manifests-"));
    store = ObjectStore.inMemory();
    logged = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      logged.push(String(chunk));
      return true;
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it("applies the packaged manifests: the default local-path StorageClass, the RuntimeClasses, an Addon each", async () => {
    await stagePackagedManifests(dir, [], SETTINGS);
    await controller().sync();
    expect(store.get(STORAGE_CLASSES, undefined, "local-path")).toMatchObject({
      metadata: { annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
      provisioner: "rancher.io/local-path",
      reclaimPolicy: "Delete",
      volumeBindingMode: "WaitForFirstConsumer",
    });
    expect(store.get(RUNTIME_CLASSES, undefined, "nvidia")?.["handler"]).toBe("nvidia");
    expect(store.get(RUNTIME_CLASSES, undefined, "nvidia-experimental")?.["handler"]).toBe(
      "nvidia-experimental",
    );
    const addon = store.get(ADDONS, "kube-system", "local-storage");
    expect(addon?.["spec"]).toEqual({
      source: path.join(dir, "local-storage.yaml"),
      checksum: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
    });
    expect(addon?.metadata.annotations?.[GVK_ANNOTATION]).toContain("storage.k8s.io/v1, Kind=StorageClass");
    expect(await readFile(path.join(dir, "local-storage.yaml"), "utf8")).toContain(
      '"paths":["/var/lib/rancher/k3s/storage"]',
    );
  });

  it("applies a file again only when it changed: objects deleted meanwhile stay deleted", async () => {
    await edit("extra.yaml", `${storageClass("fast")}---\n${helmChart("hello")}`, 0);
    const deploy = controller();
    await deploy.sync();
    expect(scNames()).toEqual(["fast"]);
    store.remove(STORAGE_CLASSES, undefined, "fast");
    await deploy.sync();
    await edit("extra.yaml", `${storageClass("fast")}---\n${helmChart("hello")}`, 5); // touched, same content
    await deploy.sync();
    expect(scNames()).toEqual([]);

    await edit("extra.yaml", storageClass("fast").replace("example.com/fast", "example.com/v2"), 10);
    await deploy.sync();
    expect(store.get(STORAGE_CLASSES, undefined, "fast")?.["provisioner"]).toBe("example.com/v2");
    // The HelmChart left the file: the Addon's apply deletes it.
    expect(store.list(HELM_CHARTS)).toEqual([]);
  });

  it("applies every manifest again at start, as k3s does after a restart", async () => {
    await edit("extra.yaml", storageClass("fast"), 0);
    await controller().sync();
    store.remove(STORAGE_CLASSES, undefined, "fast");
    await controller().sync();
    expect(scNames()).toEqual(["fast"]);
  });

  it("logs a manifest that does not parse once, applies the others, and retries it", async () => {
    await edit("a-broken.yaml", "kind: [oops\n", 0);
    await edit("b-good.yaml", storageClass("good"), 0);
    const deploy = controller();
    await deploy.sync();
    await deploy.sync();
    expect(scNames()).toEqual(["good"]);
    const failures = logged.filter((line) => line.includes("Failed to process config"));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toContain(
      `failed to process ${path.join(dir, "a-broken.yaml")}: error converting YAML to JSON`,
    );
    expect(store.get(ADDONS, "kube-system", "a-broken")?.["spec"]).toEqual({
      source: path.join(dir, "a-broken.yaml"),
    });

    await edit("a-broken.yaml", storageClass("fixed"), 5);
    await deploy.sync();
    expect(scNames()).toEqual(["fixed", "good"]);
  });

  it("refuses a file with a kind the API does not serve, applying none of it", async () => {
    await edit(
      "widget.yaml",
      `${storageClass("w")}---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n`,
      0,
    );
    await controller().sync();
    expect(scNames()).toEqual([]);
    expect(logged.join("")).toContain('no matches for kind \\"Widget\\" in version \\"example.com/v1\\"');
  });

  it("leaves .skip'd files alone and deletes a disabled component's file, Addon and objects", async () => {
    await stagePackagedManifests(dir, [], SETTINGS);
    await edit("extra.yaml", storageClass("fast"), 0);
    await edit("extra.yaml.skip", "", 0);
    await controller().sync();
    expect(scNames()).toEqual(["local-path"]);

    await stagePackagedManifests(dir, ["local-storage"], SETTINGS);
    await controller(["local-storage"]).sync();
    expect(scNames()).toEqual([]);
    expect(store.get(ADDONS, "kube-system", "local-storage")).toBeUndefined();
    await expect(readFile(path.join(dir, "local-storage.yaml"))).rejects.toThrow();
    expect(store.get(RUNTIME_CLASSES, undefined, "nvidia")).toBeDefined();
  });
});
