import { describe, expect, it } from "vitest";
import { fakeExec, NOT_FOUND } from "../fakes/fake-exec.js";
import { directory, fakeFs, symlink } from "../fakes/fake-fs.js";

describe("fakeFs", () => {
  const fs = fakeFs(
    {
      "/etc/os-release": "ID=debian\n",
      "/sys/bus/pci/devices/0000:01:00.0/vendor": "0x10de\n",
      "/sys/bus/pci/devices/0000:01:00.0/driver": symlink("../../../bus/pci/drivers/nvidia"),
      "/sys/bus/pci/drivers/nvidia/bind": "",
      "/etc/alias": symlink("os-release"),
      "/run/empty": directory(),
    },
    {
      statfs: {
        "/": { totalBytes: 100, availableBytes: 10 },
        "/var": { totalBytes: 200, availableBytes: 20 },
      },
    },
  );

  it("reads files, follows symbolic links for text, and reports missing paths as ENOENT", async () => {
    expect(await fs.readText("/etc/os-release")).toBe("ID=debian\n");
    expect(await fs.readText("/etc/alias")).toBe("ID=debian\n");
    expect(await fs.readTextIfExists("/etc/missing")).toBeUndefined();
    await expect(fs.readText("/etc/missing")).rejects.toMatchObject({ code: "ENOENT" });
    await expect(fs.readText("/etc")).rejects.toMatchObject({ code: "EISDIR" });
  });

  it("implies directories from paths, lists them sorted, and knows declared empty ones", async () => {
    expect(await fs.readDir("/etc")).toEqual(["alias", "os-release"]);
    expect(await fs.readDir("/")).toEqual(["etc", "run", "sys"]);
    expect(await fs.readDir("/run/empty")).toEqual([]);
    await expect(fs.readDir("/nope")).rejects.toMatchObject({ code: "ENOENT" });
    await expect(fs.readDir("/etc/os-release")).rejects.toMatchObject({ code: "ENOTDIR" });
  });

  it("returns link targets verbatim; ENOENT for a missing link, EINVAL for a file", async () => {
    expect(await fs.readLink("/sys/bus/pci/devices/0000:01:00.0/driver")).toBe(
      "../../../bus/pci/drivers/nvidia",
    );
    await expect(fs.readLink("/sys/bus/pci/devices/0000:02:00.0/driver")).rejects.toMatchObject({
      code: "ENOENT",
    });
    await expect(fs.readLink("/etc/os-release")).rejects.toMatchObject({ code: "EINVAL" });
  });

  it("stats files, directories and links without following links", async () => {
    expect(await fs.stat("/etc/os-release")).toMatchObject({ isFile: true, size: 10 });
    expect(await fs.stat("/run/empty")).toMatchObject({ isDirectory: true, isFile: false });
    expect(await fs.stat("/sys/bus")).toMatchObject({ isDirectory: true });
    expect(await fs.stat("/etc/alias")).toMatchObject({ isSymbolicLink: true, isFile: false });
    expect(await fs.stat("/etc/missing")).toBeUndefined();
  });

  it("answers statfs from the longest mount point containing an existing path", async () => {
    expect(await fs.statfs("/etc/os-release")).toEqual({ totalBytes: 100, availableBytes: 10 });
    expect(await fs.statfs("/var")).toEqual({ totalBytes: 200, availableBytes: 20 });
    await expect(fs.statfs("/var/lib")).rejects.toMatchObject({ code: "ENOENT" });
    const varLib = fakeFs(
      { "/var/lib/k3s/x": "", "/variant/x": "" },
      { statfs: { "/var": { totalBytes: 2, availableBytes: 1 } } },
    );
    expect(await varLib.statfs("/var/lib")).toEqual({ totalBytes: 2, availableBytes: 1 });
    // "/var" is not a mount point of "/variant", and no "/" is configured here.
    await expect(varLib.statfs("/variant")).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("fakeExec", () => {
  it("answers by command line, defaults missing fields, and records every call", async () => {
    const exec = fakeExec({
      "uname -m": { stdout: "x86_64\n" },
      false: { code: 1 },
      boom: new Error("spawn boom ENOENT"),
      cat: (_argv, options) => ({ stdout: options?.input ?? "" }),
    });
    expect(await exec.run(["uname", "-m"])).toEqual({ code: 0, stdout: "x86_64\n", stderr: "" });
    expect(await exec.run(["false"])).toEqual({ code: 1, stdout: "", stderr: "" });
    expect(await exec.run(["cat"], { input: "hi" })).toEqual({ code: 0, stdout: "hi", stderr: "" });
    expect(await exec.run(["uname", "-a"])).toEqual(NOT_FOUND);
    expect(NOT_FOUND).toEqual({ code: 127, stdout: "", stderr: "not found" });
    await expect(exec.run(["boom"])).rejects.toThrow("spawn boom ENOENT");
    expect(exec.commandLines()).toEqual(["uname -m", "false", "cat", "uname -a", "boom"]);
    expect(exec.calls[2]).toEqual({ argv: ["cat"], options: { input: "hi" } });
  });
});
