import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { build } from "esbuild";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CasStore } from "../../agent/cas/store.js";
import { main, type AgentCliDeps } from "../../agent/cli.js";
import { casReceiveOutputSchema, casStatusOutputSchema } from "../../agent/commands/cas.js";
import { localFs } from "../../agent/host/local-fs.js";
import type { ArtifactRef } from "../../shared/artifacts.js";
import { isGroundcrewError, type GroundcrewError } from "../../shared/errors.js";
import { fakeExec } from "../fakes/fake-exec.js";

function artifact(content: Buffer, name = "k3s/k3s"): ArtifactRef {
  const sha256 = createHash("sha256").update(content).digest("hex");
  return { sha256, size: content.byteLength, path: name, kind: "k3s-binary" };
}

/** The bytes in `size`-byte chunks, as a network stream would deliver them. */
async function* chunks(content: Buffer, size = 1000): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < content.byteLength; at += size) {
    await Promise.resolve();
    yield content.subarray(at, at + size);
  }
}

/** Delivers `content`, then fails like a cut connection. */
async function* cutAfter(content: Buffer): AsyncGenerator<Uint8Array> {
  yield* chunks(content);
  throw Object.assign(new Error("aborted"), { code: "ECONNRESET" });
}

async function rejection(promise: Promise<unknown>): Promise<GroundcrewError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isGroundcrewError(error)) throw new Error(`expected a GroundcrewError, got ${String(error)}`);
  return error;
}

describe("CasStore", () => {
  let root: string;
  let store: CasStore;
  const content = randomBytes(64 * 1024 + 17);
  const ref = artifact(content);
  const half = 30_000;

  beforeEach(async () => {
    root = path.join(await mkdtemp(path.join(tmpdir(), "gc-cas-")), "cas");
    store = new CasStore(root);
  });
  afterEach(async () => {
    await rm(path.dirname(root), { recursive: true, force: true });
  });

  it("stores a verified artifact under sha256/, with the documented modes, and nothing left in tmp/", async () => {
    expect(await store.has(ref)).toBe(false);
    const result = await store.writeFrom(ref, chunks(content), 0);
    expect(result).toEqual({ bytesWritten: ref.size, alreadyStored: false });
    expect(await store.has(ref)).toBe(true);
    expect(await store.has({ ...ref, size: ref.size + 1 })).toBe(false);
    expect(await readFile(store.finalPath(ref.sha256))).toEqual(content);
    expect(store.finalPath(ref.sha256)).toBe(`${root}/sha256/${ref.sha256}`);
    expect((await stat(store.finalPath(ref.sha256))).mode & 0o777).toBe(0o644);
    expect((await stat(path.join(root, "sha256"))).mode & 0o777).toBe(0o755);
    expect((await stat(path.join(root, "tmp"))).mode & 0o777).toBe(0o700);
    expect(await readdir(path.join(root, "tmp"))).toEqual([]);
    expect(await store.partialSize(ref.sha256)).toBe(0);
    // A second write finds it stored and leaves the stream unread.
    expect(await store.writeFrom(ref, cutAfter(Buffer.alloc(0)), 0)).toEqual({
      bytesWritten: 0,
      alreadyStored: true,
    });
  });

  it("keeps the bytes of a cut transfer and resumes from them", async () => {
    const cut = await rejection(store.writeFrom(ref, cutAfter(content.subarray(0, half)), 0));
    expect(cut.code).toBe("CAS_WRITE_FAILED");
    expect(cut.retryable).toBe(true);
    expect(cut.message).toBe(
      `k3s/k3s is incomplete (${half} of ${ref.size} bytes): the source failed: aborted; the bytes received are kept for a resume`,
    );
    expect(await store.partialSize(ref.sha256)).toBe(half);
    expect(await store.has(ref)).toBe(false);

    const result = await store.writeFrom(ref, chunks(content.subarray(half)), half);
    expect(result.bytesWritten).toBe(ref.size - half);
    expect(await readFile(store.finalPath(ref.sha256))).toEqual(content);
    expect(await store.partialSize(ref.sha256)).toBe(0);
  });

  it("keeps the bytes of a stream that ends early (no error), and says so", async () => {
    const short = await rejection(store.writeFrom(ref, chunks(content.subarray(0, half)), 0));
    expect(short.code).toBe("CAS_WRITE_FAILED");
    expect(short.message).toContain("the source ended early");
    expect(short.context).toMatchObject({ partialBytes: half, size: ref.size });
    expect(await store.partialSize(ref.sha256)).toBe(half);
  });

  it("refuses an offset that is neither 0 nor the partial size, and touches nothing", async () => {
    await rejection(store.writeFrom(ref, chunks(content.subarray(0, half)), 0));
    for (const offset of [half - 1, half + 1, 5]) {
      const refused = await rejection(store.writeFrom(ref, chunks(content.subarray(offset)), offset));
      expect(refused.code).toBe("CAS_INVALID_REQUEST");
      expect(refused.message).toBe(
        `cannot resume k3s/k3s at byte ${offset}: ${half} bytes were received so far`,
      );
      expect(refused.context).toMatchObject({ partialBytes: half });
    }
    expect(await store.partialSize(ref.sha256)).toBe(half);
    for (const offset of [-1, ref.size + 1, 1.5]) {
      expect((await rejection(store.writeFrom(ref, chunks(content), offset))).code).toBe(
        "CAS_INVALID_REQUEST",
      );
    }
    // Offset 0 starts over.
    await store.writeFrom(ref, chunks(content), 0);
    expect(await store.has(ref)).toBe(true);
  });

  it("refuses a malformed reference or sha256 (no path can be built from it)", async () => {
    const bad = { ...ref, sha256: "../../etc/passwd" };
    expect((await rejection(store.writeFrom(bad, chunks(content), 0))).code).toBe("CAS_INVALID_REQUEST");
    expect(() => store.partialPath("../x")).toThrow(/64 lowercase hex digits/);
    expect((await rejection(store.partialSize(ref.sha256.toUpperCase()))).code).toBe("CAS_INVALID_REQUEST");
  });

  it("refuses corrupt bytes naming the artifact and both hashes, and deletes the partial file", async () => {
    const corrupt = Buffer.from(content);
    corrupt[1234] = (corrupt[1234] ?? 0) ^ 0xff;
    const actual = createHash("sha256").update(corrupt).digest("hex");
    const refused = await rejection(store.writeFrom(ref, chunks(corrupt), 0));
    expect(refused.code).toBe("CAS_VERIFY_FAILED");
    expect(refused.message).toBe(
      `k3s/k3s arrived corrupted: expected sha256 ${ref.sha256} (${ref.size} bytes), ` +
        `got sha256 ${actual} (${ref.size} bytes); the partial file was deleted`,
    );
    expect(refused.context).toMatchObject({
      path: "k3s/k3s",
      expectedSha256: ref.sha256,
      actualSha256: actual,
    });
    expect(await store.has(ref)).toBe(false);
    expect(await store.partialSize(ref.sha256)).toBe(0);
    expect(await readdir(path.join(root, "tmp"))).toEqual([]);
  });

  it("verifies the whole file on resume: bad bytes received earlier are caught too", async () => {
    const corrupt = Buffer.from(content.subarray(0, half));
    corrupt[10] = (corrupt[10] ?? 0) ^ 0x01;
    await rejection(store.writeFrom(ref, chunks(corrupt), 0));
    const refused = await rejection(store.writeFrom(ref, chunks(content.subarray(half)), half));
    expect(refused.code).toBe("CAS_VERIFY_FAILED");
    expect(await store.has(ref)).toBe(false);
    expect(await store.partialSize(ref.sha256)).toBe(0);
  });

  it("refuses a stream with more bytes than the artifact has", async () => {
    const longer = Buffer.concat([content, Buffer.from("x")]);
    const refused = await rejection(store.writeFrom(ref, chunks(longer), 0));
    expect(refused.code).toBe("CAS_VERIFY_FAILED");
    expect(refused.message).toContain(`more than its ${ref.size} bytes`);
    expect(await store.partialSize(ref.sha256)).toBe(0);
    expect(await store.has(ref)).toBe(false);
  });

  it("stores an empty artifact", async () => {
    const empty = artifact(Buffer.alloc(0), "manifests/empty.yaml");
    await store.writeFrom(empty, chunks(Buffer.alloc(0)), 0);
    expect(await store.has(empty)).toBe(true);
  });

  it("publishes a complete partial file left by a kill before its rename, only after verifying it", async () => {
    await mkdir(path.join(root, "tmp"), { recursive: true });
    await writeFile(store.partialPath(ref.sha256), content);
    expect(await store.has(ref)).toBe(false);
    await store.writeFrom(ref, chunks(Buffer.alloc(0)), ref.size);
    expect(await store.has(ref)).toBe(true);

    const other = artifact(randomBytes(5000), "debs/other.deb");
    await writeFile(store.partialPath(other.sha256), randomBytes(5000));
    expect((await rejection(store.writeFrom(other, chunks(Buffer.alloc(0)), other.size))).code).toBe(
      "CAS_VERIFY_FAILED",
    );
    expect(await store.has(other)).toBe(false);
  });

  it("lets one writer at a time write an artifact", async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = async function* (): AsyncGenerator<Uint8Array> {
      yield content.subarray(0, half);
      await gate;
      yield content.subarray(half);
    };
    const first = store.writeFrom(ref, slow(), 0);
    await expect.poll(() => store.partialSize(ref.sha256)).toBe(half);
    const busy = await rejection(store.writeFrom(ref, chunks(content), 0));
    expect(busy.code).toBe("CAS_WRITE_FAILED");
    expect(busy.retryable).toBe(true);
    expect(busy.message).toBe(
      `k3s/k3s is being written by process ${process.pid}; try again when it is done`,
    );
    expect((await rejection(store.remove(ref.sha256))).code).toBe("CAS_WRITE_FAILED");
    release();
    await first;
    expect(await store.has(ref)).toBe(true);
  });

  it("remove deletes the final and partial files; missing ones are fine", async () => {
    await store.remove(ref.sha256);
    await store.writeFrom(ref, chunks(content), 0);
    const other = artifact(randomBytes(3000), "debs/b.deb");
    await rejection(store.writeFrom(other, chunks(randomBytes(100)), 0));
    await store.remove(ref.sha256);
    await store.remove(other.sha256);
    expect(await store.has(ref)).toBe(false);
    expect(await readdir(path.join(root, "sha256"))).toEqual([]);
    expect(await readdir(path.join(root, "tmp"))).toEqual([]);
  });

  it(
    "survives a SIGKILL mid-write: no final file, the bytes and a stale lock stay, a rerun resumes",
    { timeout: 30_000 },
    async () => {
      const script = path.join(path.dirname(root), "writer.mjs");
      await build({
        stdin: {
          contents: [
            'import { CasStore } from "./agent/cas/store.ts";',
            "const [root, ref] = process.argv.slice(2);",
            "await new CasStore(root).writeFrom(JSON.parse(ref), process.stdin, 0);",
          ].join("\n"),
          resolveDir: process.cwd(),
          loader: "ts",
        },
        bundle: true,
        platform: "node",
        format: "esm",
        outfile: script,
        logLevel: "silent",
      });
      const child = spawn(process.execPath, [script, root, JSON.stringify(ref)], {
        stdio: ["pipe", "ignore", "inherit"],
      });
      const exited = new Promise<void>((resolve) =>
        child.once("exit", () => {
          resolve();
        }),
      );
      child.stdin.write(content.subarray(0, half));
      await expect.poll(() => store.partialSize(ref.sha256), { timeout: 10_000 }).toBe(half);
      child.kill("SIGKILL");
      await exited;

      expect(await store.has(ref)).toBe(false);
      expect(await readdir(path.join(root, "sha256"))).toEqual([]);
      expect((await readdir(path.join(root, "tmp"))).sort()).toEqual([
        `${ref.sha256}.lock`,
        `${ref.sha256}.partial`,
      ]);
      expect(await store.partialSize(ref.sha256)).toBe(half);

      const result = await store.writeFrom(ref, chunks(content.subarray(half)), half);
      expect(result.bytesWritten).toBe(ref.size - half);
      expect(await readFile(store.finalPath(ref.sha256))).toEqual(content);
      expect(await readdir(path.join(root, "tmp"))).toEqual([]);
    },
  );
});

describe("groundcrew-agent cas status / cas receive", () => {
  let root: string;
  const content = randomBytes(50_000);
  const ref = artifact(content, "debs/containerd.deb");
  const half = 20_000;

  beforeEach(async () => {
    root = path.join(await mkdtemp(path.join(tmpdir(), "gc-cas-cli-")), "cas");
  });
  afterEach(async () => {
    await rm(path.dirname(root), { recursive: true, force: true });
  });

  async function agent(args: string[], stdin: AsyncIterable<Uint8Array> = chunks(Buffer.alloc(0))) {
    let out = "";
    let err = "";
    const deps: AgentCliDeps = {
      exec: fakeExec({}),
      fs: localFs,
      stdout: (text) => (out += text),
      stderr: (text) => (err += text),
      stdinBytes: () => stdin,
    };
    const code = await main(["/opt/groundcrew-agent", "/opt/groundcrew-agent", ...args], deps);
    return { code, out, err };
  }
  const receive = (offset: number) => [
    "cas",
    "receive",
    ...["--sha256", ref.sha256, "--size", String(ref.size), "--path", ref.path, "--kind", "deb"],
    ...["--offset", String(offset), "--root", root],
  ];
  const status = () => ["cas", "status", "--sha256", ref.sha256, "--root", root];

  it("reports, receives with a resume, and reports again", async () => {
    expect(await agent(status())).toEqual({ code: 0, out: '{"present":false,"partialBytes":0}\n', err: "" });

    const cut = await agent(receive(0), cutAfter(content.subarray(0, half)));
    expect(cut.code).toBe(1);
    expect(casReceiveOutputSchema.parse(JSON.parse(cut.out))).toEqual({
      stored: false,
      sha256: ref.sha256,
      code: "CAS_WRITE_FAILED",
      message: expect.stringContaining(`incomplete (${half} of ${ref.size} bytes)`) as string,
      retryable: true,
      partialBytes: half,
    });
    expect(cut.err).toMatch(/^groundcrew-agent: debs\/containerd\.deb is incomplete/);
    expect(casStatusOutputSchema.parse(JSON.parse((await agent(status())).out))).toEqual({
      present: false,
      partialBytes: half,
    });

    const wrong = await agent(receive(half + 1), chunks(content.subarray(half + 1)));
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.out)).toMatchObject({
      stored: false,
      code: "CAS_INVALID_REQUEST",
      partialBytes: half,
    });

    const done = await agent(receive(half), chunks(content.subarray(half)));
    expect(done).toEqual({
      code: 0,
      out: `${JSON.stringify({ stored: true, sha256: ref.sha256, bytesWritten: ref.size - half, alreadyStored: false })}\n`,
      err: "",
    });
    expect((await agent(status())).out).toBe('{"present":true,"partialBytes":0}\n');
    expect((await agent([...status(), "--size", String(ref.size + 1)])).out).toBe(
      '{"present":false,"partialBytes":0}\n',
    );
    expect(await readFile(path.join(root, "sha256", ref.sha256))).toEqual(content);
  });

  it("refuses invalid flags before touching anything", async () => {
    const bad = await agent(["cas", "status", "--sha256", "../../etc", "--root", root]);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(
      "groundcrew-agent: --sha256 is not valid (CAS_INVALID_REQUEST): a sha256 is 64 lowercase hex digits\n",
    );
    const kind = await agent(receive(0).map((word) => (word === "deb" ? "tarball" : word)));
    expect(kind.code).toBe(1);
    expect(kind.err).toMatch(/^groundcrew-agent: --kind is not valid/);
    const size = await agent(receive(0).map((word) => (word === String(ref.size) ? "-5" : word)));
    expect(size.code).toBe(1);
    expect(size.err).toMatch(/--size is not valid/);
    await expect(stat(root)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
