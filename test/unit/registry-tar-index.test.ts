import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "tar";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { indexTar, resolveEntry } from "../../agent/registry/tar-index.js";
import { isGroundcrewError, type GroundcrewError } from "../../shared/errors.js";
import { tarBytes, type TarMember } from "../support/registry-tar.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gc-tar-index-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tarFile(members: readonly TarMember[] | Buffer): Promise<string> {
  const file = path.join(dir, "archive.tar");
  await writeFile(file, Buffer.isBuffer(members) ? members : tarBytes(members));
  return file;
}

async function refusal(promise: Promise<unknown>): Promise<GroundcrewError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isGroundcrewError(error, "IMAGE_ARCHIVE_INVALID"))
    throw new Error(`expected IMAGE_ARCHIVE_INVALID, got ${String(error)}`);
  return error;
}

describe("indexTar", () => {
  it("records each file's data offset and size, normalizes names and skips directories", async () => {
    const file = await tarFile([
      { name: "./dir/", type: "dir" },
      { name: "./dir/a.txt", body: "hello" },
      { name: "b.bin", body: Buffer.alloc(1500, 7) },
      { name: "dir/link", type: "symlink", linkname: "a.txt" },
      { name: "hard", type: "hardlink", linkname: "./b.bin" },
    ]);
    const entries = await indexTar(file, "archive.tar");
    expect([...entries.keys()]).toEqual(["dir/a.txt", "b.bin", "dir/link", "hard"]);
    const bytes = await readFile(file);
    const a = entries.get("dir/a.txt")!;
    expect(bytes.subarray(a.offset, a.offset + a.size).toString()).toBe("hello");
    expect(resolveEntry(entries, "dir/link", "archive.tar")?.name).toBe("dir/a.txt");
    expect(resolveEntry(entries, "hard", "archive.tar")?.size).toBe(1500);
    expect(resolveEntry(entries, "absent", "archive.tar")).toBeUndefined();
  });

  it("reads what the tar package writes, long names (PAX and ustar prefix) included", async () => {
    const source = path.join(dir, "src");
    const long = `${"d".repeat(120)}/${"f".repeat(90)}.json`;
    const longer = `${"x".repeat(200)}.json`;
    await mkdir(path.join(source, "d".repeat(120)), { recursive: true });
    await writeFile(path.join(source, long), "{}");
    await writeFile(path.join(source, longer), "[1]");
    const file = path.join(dir, "made-by-tar.tar");
    await create({ file, cwd: source, portable: true }, [long, longer]);
    const entries = await indexTar(file, "made-by-tar.tar");
    const bytes = await readFile(file);
    for (const [name, content] of [
      [long, "{}"],
      [longer, "[1]"],
    ] as const) {
      const entry = entries.get(name)!;
      expect(bytes.subarray(entry.offset, entry.offset + entry.size).toString()).toBe(content);
    }
  });

  it("refuses a file that is not a tar", async () => {
    const error = await refusal(
      indexTar(await tarFile(Buffer.from("just some text, not a tar".repeat(40))), "x.tar"),
    );
    expect(error.message).toContain("x.tar");
    expect(error.message).toContain("not a tar");
    await expect(indexTar(await tarFile(Buffer.alloc(0)), "empty.tar")).rejects.toThrow(/not a tar/);
  });

  it.each([
    [[{ name: "../escape", body: "x" }], "'..'"],
    [[{ name: "a/../../escape", body: "x" }], "'..'"],
    [[{ name: "/etc/passwd", body: "x" }], "absolute"],
    [[{ name: "a/link", type: "symlink", linkname: "../../etc/shadow" }], "out of the archive"],
    [[{ name: "link", type: "symlink", linkname: "/etc/shadow" }], "absolute path"],
    [[{ name: "h", type: "hardlink", linkname: "../x" }], "'..'"],
    [
      [
        { name: "twice", body: "a" },
        { name: "./twice", body: "b" },
      ],
      "twice",
    ],
  ] satisfies [TarMember[], string][])("refuses hostile entries %#", async (members, why) => {
    const error = await refusal(indexTar(await tarFile(members), "hostile.tar"));
    expect(error.message).toContain("hostile.tar: entry");
    expect(error.message).toContain(why);
  });

  it("refuses a truncated archive and a damaged header", async () => {
    const whole = tarBytes([
      { name: "a", body: Buffer.alloc(3000, 1) },
      { name: "b", body: "b" },
    ]);
    await expect(indexTar(await tarFile(whole.subarray(0, 1024)), "cut.tar")).rejects.toThrow(/truncated/);
    const damaged = Buffer.from(whole);
    damaged[512 + 3072 + 10] = 0x41; // inside the second header's name
    await expect(indexTar(await tarFile(damaged), "bad.tar")).rejects.toThrow(/damaged/);
  });

  it("refuses link loops when resolving", async () => {
    const entries = await indexTar(
      await tarFile([
        { name: "a", type: "symlink", linkname: "b" },
        { name: "b", type: "symlink", linkname: "a" },
      ]),
      "loop.tar",
    );
    expect(() => resolveEntry(entries, "a", "loop.tar")).toThrow(/loop/);
  });
});
