import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localExec } from "../../agent/host/local-exec.js";
import { localFs } from "../../agent/host/local-fs.js";
import { withSudo } from "../../shared/with-sudo.js";
import { fakeExec } from "../fakes/fake-exec.js";

describe("localExec", () => {
  it("runs argv without a shell and collects output", async () => {
    expect(await localExec.run(["/bin/echo", "$HOME", "a b"])).toEqual({
      code: 0,
      stdout: "$HOME a b\n",
      stderr: "",
    });
  });

  it("feeds stdin, reports exit codes and stderr", async () => {
    expect((await localExec.run(["/bin/cat"], { input: "hello" })).stdout).toBe("hello");
    expect(await localExec.run(["/bin/sh", "-c", "echo oops >&2; exit 3"])).toEqual({
      code: 3,
      stdout: "",
      stderr: "oops\n",
    });
  });

  it("kills a child past its timeout and reports 124; a signal death is 128 + signal", async () => {
    expect((await localExec.run(["/bin/sleep", "10"], { timeoutMs: 100 })).code).toBe(124);
    expect((await localExec.run(["/bin/sh", "-c", "kill -TERM $$"])).code).toBe(128 + 15);
  });

  it("passes extra environment, and rejects a program that does not exist", async () => {
    expect((await localExec.run(["/bin/sh", "-c", "echo $GC_X"], { env: { GC_X: "y" } })).stdout).toBe("y\n");
    await expect(localExec.run(["/nonexistent/program"])).rejects.toMatchObject({ code: "ENOENT" });
  });
});

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
