import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localFs } from "../../agent/host/local-fs.js";
import { withSudo } from "../../shared/with-sudo.js";
import { fakeExec } from "../fakes/fake-exec.js";

describe("withSudo", () => {
  it("runs every command through non-interactive sudo", async () => {
    const exec = fakeExec({ "sudo -n -- id -u": { stdout: "0\n" } });
    expect((await withSudo(exec).run(["id", "-u"])).stdout).toBe("0\n");
    expect(exec.commandLines()).toEqual(["sudo -n -- id -u"]);
  });
});

describe("localFs", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "groundcrew-fs-"));
    await mkdir(path.join(dir, "sub"));
    await writeFile(path.join(dir, "b.txt"), "bee");
    await writeFile(path.join(dir, "a.txt"), "ay");
    await symlink("../../bus/pci/drivers/nvidia", path.join(dir, "driver"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads files, sorted directories and links, and tells missing paths apart", async () => {
    expect(await localFs.readText(path.join(dir, "a.txt"))).toBe("ay");
    expect(await localFs.readTextIfExists(path.join(dir, "missing"))).toBeUndefined();
    await expect(localFs.readText(path.join(dir, "missing"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await localFs.readDir(dir)).toEqual(["a.txt", "b.txt", "driver", "sub"]);
    expect(await localFs.readLink(path.join(dir, "driver"))).toBe("../../bus/pci/drivers/nvidia");
    expect(await localFs.stat(path.join(dir, "driver"))).toMatchObject({
      isSymbolicLink: true,
      isFile: false,
    });
    expect(await localFs.stat(path.join(dir, "sub"))).toMatchObject({ isDirectory: true });
    expect(await localFs.stat(path.join(dir, "missing"))).toBeUndefined();
  });

  it("reports space of the file system holding a path", async () => {
    const space = await localFs.statfs(dir);
    expect(space.totalBytes).toBeGreaterThan(0);
    expect(space.availableBytes).toBeLessThanOrEqual(space.totalBytes);
  });
});
