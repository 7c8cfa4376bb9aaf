import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ArtifactRef } from "../../shared/artifacts.js";
import { registrySeedStep } from "../../agent/steps/registry-seed.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { fakeFs } from "../fakes/fake-fs.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";
import { writeArchive } from "../support/registry-archives.js";
import { startFakeRegistry, type FakeRegistry } from "../support/registry-fake.js";
import {
  descriptorOf,
  docker25Members,
  imageBlobs,
  ociLayoutMembers,
  testImage,
} from "../support/registry-images.js";

let dir: string;
let fake: FakeRegistry;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gc-registry-seed-"));
  fake = await startFakeRegistry();
});
afterEach(async () => {
  await fake.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Writes an archive into a content-addressed store under `dir` and returns its reference. */
async function stored(name: string, members: Parameters<typeof writeArchive>[2]): Promise<ArtifactRef> {
  const file = await writeArchive(dir, name, members);
  const bytes = await readFile(file);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  await mkdir(path.join(dir, "cas", "sha256"), { recursive: true });
  await rename(file, path.join(dir, "cas", "sha256", sha256));
  return { sha256, size: bytes.length, path: `images/${name}`, kind: "image-archive" };
}

function port(): number {
  return Number(new URL(fake.url).port);
}

function harness(archives: ArtifactRef[], registryPort = port()) {
  const host = { fs: fakeFs({}), exec: fakeExec() };
  const step = stepHarness(registrySeedStep, host, {
    archives,
    port: registryPort,
    casDir: path.join(dir, "cas"),
  });
  return { host, step };
}

describe("registry.seed", () => {
  it("seeds every archive through the registry API, then is done; a second apply pushes nothing", async () => {
    const app = testImage("app");
    const web = testImage("web");
    const archives = [
      await stored("app.tar", docker25Members([{ image: app, name: "docker.io/library/app:1" }])),
      await stored(
        "web-oci.tar",
        ociLayoutMembers(
          [
            descriptorOf(web.manifest, {
              annotations: { "io.containerd.image.name": "example.com/team/web:2" },
            }),
          ],
          imageBlobs(web),
        ),
      ),
    ];
    const { host, step } = harness(archives);
    const before = hostTree(host.fs);
    expect(step.bound.title).toBe("Seed the depot registry from 2 image archive(s)");
    expect(await step.check()).toEqual({
      done: false,
      reason: "not in the registry: library/app:1, team/web:2",
    });
    expect(await step.apply()).toEqual({
      changes: ["seeded library/app:1 from images/app.tar", "seeded team/web:2 from images/web-oci.tar"],
    });
    await step.verify();
    expect(fake.tags.get("library/app")?.get("1")).toBe(app.manifest.digest);
    expect(fake.tags.get("team/web")?.get("2")).toBe(web.manifest.digest);
    expect(await step.check()).toEqual({
      done: true,
      reason: "the registry holds every image of the bundle",
    });

    const pushes = fake.log.filter((request) => request.method === "PUT" || request.method === "POST").length;
    expect(await step.apply()).toEqual({ changes: [] });
    expect(fake.log.filter((request) => request.method === "PUT" || request.method === "POST")).toHaveLength(
      pushes,
    );
    expect(step.logs.at(-1)).toBe(
      "images/web-oci.tar: 0 blob(s) pushed, 0 mounted, 3 already there; 0 manifest(s) pushed, 1 already there",
    );
    // Nothing of its own on the host: the images live in the registry's storage.
    expect(hostTree(host.fs)).toEqual(before);
    expect(await step.undo()).toEqual({ changes: [] });
  });

  it("is not done (and does not throw) while no registry answers on the port, as in a dry run", async () => {
    const archives = [await stored("app.tar", docker25Members([{ image: testImage("app"), name: "app:1" }]))];
    const stopped = port();
    await fake.stop();
    const { step } = harness(archives, stopped);
    expect(await step.check()).toEqual({ done: false, reason: `no registry answers on port ${stopped} yet` });
    await expect(step.verify()).rejects.toMatchObject({ code: "REGISTRY_UNREACHABLE" });
    fake = await startFakeRegistry();
  });

  it("fails verify naming the image the registry does not serve", async () => {
    const archives = [await stored("app.tar", docker25Members([{ image: testImage("app"), name: "app:1" }]))];
    const { step } = harness(archives);
    await expect(step.verify()).rejects.toMatchObject({
      code: "STEP_VERIFY_FAILED",
      message: "the registry does not serve library/app:1 after seeding",
    });
  });

  it("validates params: archives, port, absolute paths", () => {
    expect(() => registrySeedStep.bind({ archives: [], port: 0 })).toThrow(/parameters of registry.seed/);
    expect(() => registrySeedStep.bind({ archives: [], port: 5000, caFile: "ca.pem" })).toThrow(
      /parameters of registry.seed/,
    );
    expect(() => registrySeedStep.bind({ archives: [{ sha256: "x" }], port: 5000 })).toThrow(
      /parameters of registry.seed/,
    );
  });
});
