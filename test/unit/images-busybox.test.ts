import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GroundcrewError } from "../../shared/errors.js";
import { BUSYBOX_APPLETS, busyboxImage } from "../../server/images/busybox.js";
import { isImageDirectory, isImageSymlink, type ImageFile } from "../../server/images/image-spec.js";
import { writeImageArchive } from "../../server/images/write-archive.js";

const run = promisify(execFile);
const DEBS = fileURLToPath(new URL("../fixtures/debs/", import.meta.url));
/** scripts/setup fetches these; a machine without them skips what needs them. */
const fixtureDeb = (name: string): string | undefined => {
  if (!existsSync(DEBS)) return undefined;
  const found = readdirSync(DEBS, { withFileTypes: true }).find(
    (entry) => entry.isFile() && entry.name.startsWith(`${name}_`) && entry.name.endsWith(".deb"),
  );
  return found === undefined ? undefined : path.join(DEBS, found.name);
};
const BUSYBOX_DEB = fixtureDeb("busybox-static");
const OTHER_DEB = fixtureDeb("tini");
/** The .deb's architecture, from its file name (…_amd64.deb). */
const DEB_ARCH = BUSYBOX_DEB?.match(/_(amd64|arm64)\.deb$/)?.[1] === "arm64" ? "arm64" : "amd64";
const OTHER_ARCH = DEB_ARCH === "amd64" ? "arm64" : "amd64";
const DOCKER_ANSWERS = await run("docker", ["info"], { timeout: 15_000 }).then(
  () => true,
  () => false,
);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gc-busybox-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(pending: Promise<unknown>): Promise<GroundcrewError> {
  try {
    await pending;
  } catch (error) {
    if (error instanceof GroundcrewError) return error;
    throw error;
  }
  throw new Error("the .deb was accepted");
}

describe("busyboxImage", () => {
  it.skipIf(BUSYBOX_DEB === undefined)(
    "holds the static busybox, a symlink per applet, a 1777 /tmp, PATH and cmd sh",
    async () => {
      const spec = await busyboxImage(BUSYBOX_DEB!, "docker.io/library/busybox:1.35", DEB_ARCH);
      expect(spec).toMatchObject({
        reference: "docker.io/library/busybox:1.35",
        arch: DEB_ARCH,
        cmd: ["sh"],
      });
      expect(spec.env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
      const binary = spec.files.find((entry): entry is ImageFile => entry.path === "bin/busybox");
      expect(binary?.mode).toBe(0o755);
      expect([...binary!.content.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]); // ELF
      const links = spec.files.filter(isImageSymlink);
      expect(links.map((link) => [link.path, link.linkTarget])).toEqual(
        BUSYBOX_APPLETS.map((applet) => [`bin/${applet}`, "busybox"]),
      );
      expect(spec.files.filter(isImageDirectory)).toEqual([{ path: "tmp", mode: 0o1777, directory: true }]);
      expect(spec.files.some((entry) => entry.path === "usr/share/doc/busybox-static/copyright")).toBe(true);
    },
  );

  it("refuses a file that is not a .deb, naming it", async () => {
    const fake = path.join(dir, "busybox-static_1.0_amd64.deb");
    await writeFile(fake, "not an ar archive\n");
    const error = await failure(busyboxImage(fake, "busybox:1", "amd64"));
    expect(error.code).toBe("IMAGE_SOURCE_INVALID");
    expect(error.message).toContain(fake);
    expect(error.context).toMatchObject({ deb: fake });
  });

  it("refuses a .deb that does not exist, naming it", async () => {
    const missing = path.join(dir, "missing.deb");
    const error = await failure(busyboxImage(missing, "busybox:1", "amd64"));
    expect(error.code).toBe("IMAGE_SOURCE_INVALID");
    expect(error.message).toContain(missing);
  });

  it("refuses a bad reference before reading the .deb", async () => {
    const error = await failure(busyboxImage(path.join(dir, "missing.deb"), "BusyBox", "amd64"));
    expect(error.code).toBe("IMAGE_REFERENCE_INVALID");
  });

  it.skipIf(BUSYBOX_DEB === undefined)("refuses a busybox-static of another architecture", async () => {
    const error = await failure(busyboxImage(BUSYBOX_DEB!, "busybox:1", OTHER_ARCH));
    expect(error.code).toBe("IMAGE_SOURCE_INVALID");
    expect(error.message).toContain(BUSYBOX_DEB!);
    expect(error.message).toContain(OTHER_ARCH);
  });

  it.skipIf(OTHER_DEB === undefined)("refuses a .deb of another package", async () => {
    const error = await failure(busyboxImage(OTHER_DEB!, "busybox:1", DEB_ARCH));
    expect(error.code).toBe("IMAGE_SOURCE_INVALID");
    expect(error.message).toContain("not busybox-static");
  });

  it.skipIf(BUSYBOX_DEB === undefined || !DOCKER_ANSWERS)(
    "makes a docker-save archive that `docker load` loads and `docker run … true` runs",
    async () => {
      const reference = `localhost/groundcrew-test/busybox:${process.pid}-${Date.now()}`;
      const archive = path.join(dir, "busybox.tar");
      const written = await writeImageArchive(
        await busyboxImage(BUSYBOX_DEB!, reference, DEB_ARCH),
        "docker-save",
        archive,
      );
      try {
        const loaded = await run("docker", ["load", "-i", archive], { timeout: 60_000 });
        expect(loaded.stdout).toContain(reference);
        const inspected = await run("docker", ["image", "inspect", "--format", "{{.Id}}", reference]);
        expect(inspected.stdout.trim()).toBe(written.configDigest);
        await run("docker", ["run", "--rm", "--network", "none", reference, "true"], { timeout: 60_000 });
        const echoed = await run("docker", ["run", "--rm", "--network", "none", reference, "echo", "ran"], {
          timeout: 60_000,
        });
        expect(echoed.stdout).toBe("ran\n");
      } finally {
        await run("docker", ["image", "rm", reference]).catch(() => undefined);
      }
    },
    120_000,
  );
});
