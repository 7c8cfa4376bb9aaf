import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import { imagesInTemplates } from "../../server/bundle/template-images.js";
import { loadAddonSources } from "../../server/cluster/addon-sources.js";
import { verifyBundle } from "../../server/bundle/verify-bundle.js";
import { createProgram } from "../../server/cli/program.js";
import { parseInventory } from "../../server/inventory/load.js";
import { writeDirectoryBundle } from "../fakes/bundle-fixture.js";
import { docker25Members, testImage } from "../support/registry-images.js";
import { tarBytes } from "../support/registry-tar.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gc-add-chart-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function groundcrew(...args: string[]): Promise<{ out: string; progress: string }> {
  let out = "";
  let progress = "";
  const program = createProgram({
    out: (text) => {
      out += text;
    },
    progress: (message) => {
      progress += `${message}\n`;
    },
  }).exitOverride();
  await program.parseAsync(["node", "groundcrew", ...args]);
  return { out, progress };
}

const chartTgz = (name: string, version: string): Buffer =>
  gzipSync(
    tarBytes([
      { name: `${name}/Chart.yaml`, body: `apiVersion: v2\nname: ${name}\nversion: ${version}\n` },
      { name: `${name}/values.yaml`, body: "replicas: 1\n" },
    ]),
  );

const TEMPLATES = [
  "---",
  "# Source: hello/templates/deployment.yaml",
  "kind: Deployment",
  "spec:",
  "  template:",
  "    spec:",
  "      containers:",
  "        - name: hello",
  '          image: "docker.io/library/hello:1.0"',
  "      initContainers:",
  "        - image: busybox:1.36 # init",
  "          name: init",
  "---",
  "kind: Job",
  "      containers:",
  "      - image: 'hello:1.0'",
  "",
].join("\n");

/** A bundle with one image archive holding library/hello:1.0 and library/busybox:1.36. */
async function bundleWithImages(): Promise<string> {
  const bundle = path.join(dir, "bundle");
  const archive = tarBytes(
    docker25Members([
      { image: testImage("hello"), name: "docker.io/library/hello:1.0" },
      { image: testImage("busybox"), name: "docker.io/library/busybox:1.36" },
    ]),
  );
  await writeDirectoryBundle(bundle, [
    { path: "images/app.tar", kind: "image-archive", content: archive, arch: "all" },
  ]);
  return bundle;
}

describe("image: fields of rendered templates", () => {
  it("finds quoted, unquoted and list-item image fields once each, in order", () => {
    expect(imagesInTemplates(TEMPLATES)).toEqual([
      "docker.io/library/hello:1.0",
      "busybox:1.36",
      "hello:1.0",
    ]);
    expect(imagesInTemplates("image:\n  repository: x\n#image: y\n")).toEqual([]);
  });
});

describe("groundcrew bundle add-chart", () => {
  it("adds the chart as a helm-chart artifact after naming the archive that holds each image", async () => {
    const bundle = await bundleWithImages();
    await writeFile(path.join(dir, "hello-0.3.1.tgz"), chartTgz("hello", "0.3.1"));
    await writeFile(path.join(dir, "rendered.yaml"), TEMPLATES);
    const { out } = await groundcrew(
      "bundle",
      "add-chart",
      bundle,
      path.join(dir, "hello-0.3.1.tgz"),
      "--images",
      path.join(dir, "rendered.yaml"),
    );
    expect(out).toContain("3 image(s) in rendered.yaml:\n");
    expect(out).toContain("  docker.io/library/hello:1.0  in images/app.tar\n");
    expect(out).toContain("  busybox:1.36  in images/app.tar\n");
    expect(out).toMatch(/added helm-chart\/hello-0\.3\.1\.tgz \(\d+ B, sha256 [0-9a-f]{64}\)/);
    const verified = await verifyBundle(bundle);
    expect(verified.manifest.artifacts.find((a) => a.kind === "helm-chart")).toMatchObject({
      path: "helm-chart/hello-0.3.1.tgz",
      name: "hello",
      version: "0.3.1",
      arch: "all",
    });
  });

  it("fails listing the images the bundle lacks, and leaves the bundle as it was", async () => {
    const bundle = await bundleWithImages();
    const manifestBefore = await readFile(path.join(bundle, "manifest.json"), "utf8");
    await writeFile(path.join(dir, "hello.tgz"), chartTgz("hello", "0.3.1"));
    await writeFile(
      path.join(dir, "rendered.yaml"),
      `${TEMPLATES}image: quay.io/org/sidecar:2.0\nimage: redis:7\n`,
    );
    const error: unknown = await groundcrew(
      "bundle",
      "add-chart",
      bundle,
      path.join(dir, "hello.tgz"),
      "--images",
      path.join(dir, "rendered.yaml"),
    ).catch((caught: unknown) => caught);
    expect(isGroundcrewError(error, "BUNDLE_IMAGES_MISSING")).toBe(true);
    expect((error as Error).message).toContain(
      "needs 2 image(s) the bundle lacks: quay.io/org/sidecar:2.0, redis:7",
    );
    expect(await readFile(path.join(bundle, "manifest.json"), "utf8")).toBe(manifestBefore);
  });

  it("refuses a file that is not a packaged chart", async () => {
    const bundle = await bundleWithImages();
    await writeFile(
      path.join(dir, "not-a-chart.tgz"),
      gzipSync(tarBytes([{ name: "x/README", body: "hi" }])),
    );
    await writeFile(path.join(dir, "rendered.yaml"), "");
    await expect(
      groundcrew(
        "bundle",
        "add-chart",
        bundle,
        path.join(dir, "not-a-chart.tgz"),
        "--images",
        path.join(dir, "rendered.yaml"),
      ),
    ).rejects.toMatchObject({ code: "BUNDLE_INVALID" });
  });
});

describe("add-ons against the bundle (loadAddonSources)", () => {
  const deps = { fileExists: () => true, homeDir: "/home/op", env: {} };
  const inventoryWith = (addons: string[]) =>
    parseInventory(
      ["hosts:", "  - {name: cp1, user: ops, role: server}", "addons:", ...addons].join("\n"),
      path.join(dir, "fleet.yaml"),
      deps,
    );

  it("reads the chart (small: its bytes, for inlining) and the values file", async () => {
    const bundle = await bundleWithImages();
    await writeFile(path.join(dir, "hello.tgz"), chartTgz("hello", "0.3.1"));
    await writeFile(path.join(dir, "rendered.yaml"), TEMPLATES);
    await groundcrew(
      "bundle",
      "add-chart",
      bundle,
      path.join(dir, "hello.tgz"),
      "--images",
      path.join(dir, "rendered.yaml"),
    );
    await writeFile(path.join(dir, "values.yaml"), "replicas: 3\n");
    const inventory = inventoryWith([
      "  - {name: hello, chart: hello, version: 0.3.1, namespace: apps, values: values.yaml, images: [hello:1.0]}",
    ]);
    const [source] = await loadAddonSources(inventory, await verifyBundle(bundle));
    expect(source).toMatchObject({ name: "hello", namespace: "apps", valuesContent: "replicas: 3\n" });
    expect(source?.chart.path).toBe("helm-chart/hello-0.3.1.tgz");
    expect(Buffer.from(source?.bytes ?? []).equals(chartTgz("hello", "0.3.1"))).toBe(true);
  });

  it("names the inventory line of a chart or image the bundle lacks", async () => {
    const bundle = await bundleWithImages();
    const inventory = inventoryWith([
      "  - name: missing",
      "    chart: nope",
      "    images: [redis:7, hello:1.0]",
    ]);
    const error: unknown = await loadAddonSources(inventory, await verifyBundle(bundle)).catch(
      (e: unknown) => e,
    );
    expect(isGroundcrewError(error, "INVENTORY_INVALID")).toBe(true);
    const file = path.join(dir, "fleet.yaml");
    expect((error as Error).message.split("\n").slice(1)).toEqual([
      `${file}:4: add-on "missing": image redis:7 is in no image archive of the bundle (add one: groundcrew bundle add BUNDLE FILE --kind image-archive)`,
      `${file}:4: add-on "missing": chart "nope" is not in the bundle (its charts: none); add it with groundcrew bundle add-chart`,
    ]);
  });
});
