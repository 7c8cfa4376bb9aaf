import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { localFs } from "../../agent/host/local-fs.js";
import { readonlyFs, type Fs } from "../../shared/host-io.js";
import { fakeFs, fsError } from "../fakes/fake-fs.js";

/** The write half of the Fs contract (shared/host-io.ts), run against the real Fs and the fake alike. */
const cases: { name: string; setup: () => Promise<{ fs: Fs; root: string }> }[] = [];
const temporary: string[] = [];
cases.push({
  name: "localFs",
  setup: async () => {
    const root = await mkdtemp(path.join(tmpdir(), "groundcrew-fs-write-"));
    temporary.push(root);
    return { fs: localFs, root };
  },
});
cases.push({
  name: "fakeFs",
  setup: () => Promise.resolve({ fs: fakeFs({ "/work/.keep": "" }), root: "/work" }),
});

afterAll(async () => {
  for (const dir of temporary) await rm(dir, { recursive: true, force: true });
});

describe.each(cases)("Fs writes: $name", ({ setup }) => {
  it("writes a file whole with its mode, replaces it, and leaves no temp file", async () => {
    const { fs, root } = await setup();
    const file = path.join(root, "a.conf");
    await fs.writeFileAtomic(file, "one\n", 0o600);
    await fs.writeFileAtomic(file, new TextEncoder().encode("two\n"), 0o640);
    expect(await fs.readText(file)).toBe("two\n");
    expect((await fs.stat(file))?.mode).toBe(0o100640);
    expect((await fs.readDir(root)).filter((name) => name !== ".keep")).toEqual(["a.conf"]);
  });

  it("needs the parent directory, which mkdirp creates with its parents", async () => {
    const { fs, root } = await setup();
    const file = path.join(root, "x", "y", "z.conf");
    await expect(fs.writeFileAtomic(file, "", 0o644)).rejects.toMatchObject({ code: "ENOENT" });
    await fs.mkdirp(path.dirname(file), 0o750);
    await fs.mkdirp(path.dirname(file), 0o750);
    await fs.writeFileAtomic(file, "z", 0o644);
    expect((await fs.stat(path.join(root, "x")))?.mode).toBe(0o40750);
    expect(await fs.readText(file)).toBe("z");
  });

  it("removes files and whole trees, and a missing path is fine", async () => {
    const { fs, root } = await setup();
    await fs.mkdirp(path.join(root, "tree", "sub"), 0o755);
    await fs.writeFileAtomic(path.join(root, "tree", "sub", "f"), "f", 0o644);
    await fs.writeFileAtomic(path.join(root, "lone"), "l", 0o644);
    await fs.remove(path.join(root, "lone"));
    await fs.remove(path.join(root, "tree"));
    await fs.remove(path.join(root, "never-there"));
    expect((await fs.readDir(root)).filter((name) => name !== ".keep")).toEqual([]);
    expect((await fs.stat(root))?.isDirectory).toBe(true);
  });

  it("renames over an existing file and changes modes", async () => {
    const { fs, root } = await setup();
    await fs.writeFileAtomic(path.join(root, "from"), "new", 0o644);
    await fs.writeFileAtomic(path.join(root, "to"), "old", 0o644);
    await fs.rename(path.join(root, "from"), path.join(root, "to"));
    expect(await fs.readText(path.join(root, "to"))).toBe("new");
    expect(await fs.stat(path.join(root, "from"))).toBeUndefined();
    await fs.chmod(path.join(root, "to"), 0o600);
    expect((await fs.stat(path.join(root, "to")))?.mode).toBe(0o100600);
    await expect(fs.rename(path.join(root, "gone"), path.join(root, "x"))).rejects.toMatchObject({
      code: "ENOENT",
    });
    await expect(fs.chmod(path.join(root, "gone"), 0o600)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("readonlyFs", () => {
  it("offers the read members and nothing else", async () => {
    const view = readonlyFs(fakeFs({ "/etc/hostname": "a\n" }));
    expect(await view.readText("/etc/hostname")).toBe("a\n");
    expect(Object.keys(view).sort()).toEqual([
      "readDir",
      "readLink",
      "readText",
      "readTextIfExists",
      "stat",
      "statfs",
    ]);
  });
});

describe("fakeFs extras", () => {
  it("fails a write through the fault hook and changes nothing", async () => {
    const fs = fakeFs(
      { "/var/lib/a": "a" },
      { fault: (op, target) => (op === "writeFileAtomic" ? fsError("ENOSPC", target, "write") : undefined) },
    );
    await expect(fs.writeFileAtomic("/var/lib/a", "b", 0o644)).rejects.toMatchObject({ code: "ENOSPC" });
    expect(await fs.readText("/var/lib/a")).toBe("a");
    expect(fs.writes).toEqual([]);
  });

  it("snapshots files and empty directories only, and keeps a directory whose last file goes", async () => {
    const fs = fakeFs({ "/etc/a": "a" });
    await fs.remove("/etc/a");
    expect(fs.snapshot()).toEqual({ "/etc": { kind: "directory" } });
    await fs.mkdirp("/etc/new", 0o700);
    await fs.writeFileAtomic("/etc/new/f", "f", 0o600);
    expect(fs.snapshot()).toEqual({ "/etc/new/f": "f" });
    expect(fs.modeOf("/etc/new")).toBe(0o700);
    expect(fs.writes).toEqual(["remove /etc/a", "mkdirp /etc/new", "writeFileAtomic /etc/new/f"]);
  });
});
