import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { Parser, type ReadEntry } from "tar";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildBundle, type BuildEvent, type BuildOptions } from "../../server/bundle/build.js";
import { download } from "../../server/bundle/download.js";
import { parseManifest, type Manifest } from "../../server/bundle/manifest.js";
import { packBundleDir } from "../../server/bundle/pack.js";
import { GroundcrewError } from "../../shared/errors.js";

/** How the test server treats one path. Counters are consumed as requests arrive. */
interface Behaviour {
  /** Body bytes per write and the pause after each (a slow server). */
  chunk?: number;
  delayMs?: number;
  /** Answer 500 to this many requests first. */
  fail500?: number;
  /** Cut the connection once, after this many body bytes. */
  cutAfter?: number;
  /** Serve other bytes of the same length. */
  wrongBytes?: boolean;
  /** Answer 200 with the whole file even to a Range request. */
  ignoreRange?: boolean;
  /** Answer 302 to this location. */
  redirectTo?: string;
}

interface Seen {
  readonly path: string;
  readonly range: string | undefined;
  status: number;
  bytes: number;
}

/** A file server on 127.0.0.1 that honours `Range: bytes=N-` and misbehaves on request. */
class FileServer {
  readonly files = new Map<string, Buffer>();
  readonly behaviour = new Map<string, Behaviour>();
  readonly seen: Seen[] = [];
  private readonly server = http.createServer((request, response) => {
    void this.serve(request, response);
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  url(file: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${file}`;
  }

  requests(file: string): Seen[] {
    return this.seen.filter((seen) => seen.path === file);
  }

  bytesServed(file: string): number {
    return this.requests(file).reduce((sum, seen) => sum + seen.bytes, 0);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const file = request.url ?? "/";
    const behaviour = this.behaviour.get(file) ?? {};
    const seen: Seen = { path: file, range: request.headers.range, status: 0, bytes: 0 };
    this.seen.push(seen);
    const answer = (status: number, headers: Record<string, string | number> = {}): void => {
      seen.status = status;
      response.writeHead(status, headers);
    };
    if (behaviour.redirectTo !== undefined) {
      answer(302, { location: behaviour.redirectTo });
      response.end();
      return;
    }
    if ((behaviour.fail500 ?? 0) > 0) {
      behaviour.fail500 = (behaviour.fail500 ?? 0) - 1;
      answer(500);
      response.end("try again");
      return;
    }
    const content = this.files.get(file);
    if (content === undefined) {
      answer(404);
      response.end("no such file");
      return;
    }
    const body = behaviour.wrongBytes === true ? Buffer.from(content.map((byte) => byte ^ 0xff)) : content;
    let offset = 0;
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
    if (range?.[1] !== undefined && behaviour.ignoreRange !== true) {
      offset = Number(range[1]);
      if (offset >= body.length) {
        answer(416, { "content-range": `bytes */${body.length}` });
        response.end();
        return;
      }
      answer(206, {
        "content-range": `bytes ${offset}-${body.length - 1}/${body.length}`,
        "content-length": body.length - offset,
      });
    } else {
      answer(200, { "content-length": body.length });
    }
    while (offset < body.length) {
      if (response.destroyed) return;
      let size = Math.min(behaviour.chunk ?? 64 * 1024, body.length - offset);
      const cut = behaviour.cutAfter;
      if (cut !== undefined && seen.bytes + size >= cut) size = cut - seen.bytes;
      const flushed = response.write(body.subarray(offset, offset + size));
      seen.bytes += size;
      offset += size;
      if (cut !== undefined && seen.bytes >= cut) {
        behaviour.cutAfter = undefined;
        await sleep(20);
        request.socket.destroy();
        return;
      }
      if (!flushed) {
        await new Promise<void>((resolve) => {
          const resume = (): void => {
            response.off("drain", resume).off("close", resume);
            resolve();
          };
          response.on("drain", resume).on("close", resume);
        });
      }
      if (behaviour.delayMs !== undefined) await sleep(behaviour.delayMs);
    }
    response.end();
  }
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
const noWait = { sleep: () => Promise.resolve(), baseDelayMs: 1 };
const NOW = new Date("2025-01-02T03:04:05.000Z");

let server: FileServer;
let dir: string;

beforeAll(async () => {
  server = new FileServer();
  await server.start();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "groundcrew-bundle-build-"));
  server.files.clear();
  server.behaviour.clear();
  server.seen.length = 0;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Serves `size` random bytes at `file`; returns them. */
function serve(file: string, size: number, behaviour: Behaviour = {}): Buffer {
  const bytes = randomBytes(size);
  server.files.set(file, bytes);
  server.behaviour.set(file, behaviour);
  return bytes;
}

interface LockEntry {
  path: string;
  kind: string;
  source: string;
  sha256?: string;
  unverified?: string;
  arch?: string;
  extra?: string[];
}

/** Writes a lock with these artifacts into the test folder; returns its path. */
async function writeLock(entries: readonly LockEntry[], name = "test.lock.yaml"): Promise<string> {
  const lines = ["name: test-bundle", "arch: [amd64]", "artifacts:"];
  for (const entry of entries) {
    lines.push(
      `  - path: ${entry.path}`,
      `    kind: ${entry.kind}`,
      `    name: ${path.basename(entry.path)}`,
      "    version: '1.0'",
      `    arch: ${entry.arch ?? "amd64"}`,
      `    source: ${entry.source}`,
      ...(entry.sha256 === undefined ? [] : [`    sha256: ${entry.sha256}`]),
      ...(entry.unverified === undefined ? [] : [`    unverified: ${entry.unverified}`]),
      ...(entry.extra ?? []).map((line) => `    ${line}`),
    );
  }
  const file = path.join(dir, name);
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

/** A small OCI image layout folder; returns its files by relative path. */
async function writeOciLayout(root: string): Promise<Map<string, Buffer>> {
  const blob = randomBytes(100_000);
  const files = new Map<string, Buffer>([
    ["oci-layout", Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ["index.json", Buffer.from('{"schemaVersion":2,"manifests":[]}')],
    [`blobs/sha256/${sha256(blob)}`, blob],
  ]);
  for (const [file, bytes] of files) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), bytes);
  }
  return files;
}

interface TarMember {
  readonly path: string;
  readonly type: string;
  readonly bytes: Buffer;
  readonly mode: number | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  readonly mtime: number | undefined;
}

/** Every member of a tar, in order. */
async function readTar(bytes: Buffer): Promise<TarMember[]> {
  const members: TarMember[] = [];
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const chunks: Buffer[] = [];
      entry.on("data", (chunk: Buffer) => chunks.push(chunk));
      entry.on("end", () => {
        members.push({
          path: entry.path,
          type: entry.type,
          bytes: Buffer.concat(chunks),
          mode: entry.mode,
          uid: entry.uid,
          gid: entry.gid,
          mtime: entry.mtime?.getTime(),
        });
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on("end", resolve);
    parser.on("error", reject);
    parser.end(bytes);
  });
  return members;
}

function unzstd(file: string): Buffer {
  const result = spawnSync("zstd", ["-d", "-q", "-c", file], { maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(`zstd -d failed: ${String(result.stderr)}`);
  return result.stdout;
}

/** The manifest of a tar bundle: its first member, which must be manifest.json. */
async function tarManifest(bytes: Buffer): Promise<{ manifest: Manifest; members: TarMember[] }> {
  const members = await readTar(bytes);
  expect(members[0]?.path).toBe("manifest.json");
  return { manifest: parseManifest(members[0]!.bytes, "tar").manifest, members };
}

async function failure(pending: Promise<unknown>): Promise<GroundcrewError> {
  try {
    await pending;
  } catch (error) {
    if (error instanceof GroundcrewError) return error;
    throw error;
  }
  throw new Error("the build succeeded");
}

/** Outputs in the test folder, finished or partial (download caches aside). */
async function leftovers(): Promise<string[]> {
  const names = await readdir(dir);
  return names.filter(
    (name) => name.includes(".partial-") || (name.startsWith("out") && !name.endsWith(".download")),
  );
}

describe("bundle build: output forms", () => {
  it("builds a folder, a .tar and a .tar.zst whose manifests match the served and local files", async () => {
    const k3s = serve("/k3s", 3_000_000);
    const images = serve("/images.tar.zst", 2_000_000);
    const layout = await writeOciLayout(path.join(dir, "app-oci"));
    const deb = randomBytes(50_000);
    await writeFile(path.join(dir, "tool.deb"), deb);
    const lockFile = await writeLock([
      { path: "k3s/k3s", kind: "k3s-binary", source: server.url("/k3s"), sha256: sha256(k3s) },
      {
        path: "k3s/images.tar.zst",
        kind: "k3s-images",
        source: server.url("/images.tar.zst"),
        sha256: sha256(images),
      },
      {
        path: "images/app.tar",
        kind: "image-archive",
        source: "file:app-oci",
        arch: "all",
        extra: ["format: oci-archive"],
      },
      {
        path: "debs/tool.deb",
        kind: "deb",
        source: "file:tool.deb",
        sha256: sha256(deb),
        extra: ["component: host"],
      },
    ]);
    const cacheDir = path.join(dir, "cache");
    const events: BuildEvent[] = [];
    const build = (out: string): ReturnType<typeof buildBundle> =>
      buildBundle({
        lockFile,
        out: path.join(dir, out),
        cacheDir,
        now: () => NOW,
        onEvent: (event) => events.push(event),
      });

    const folder = await build("out-dir");
    expect(folder.format).toBe("directory");
    expect(folder.manifestPath).toBe(path.join(dir, "out-dir", "manifest.json"));
    const { manifest } = parseManifest(await readFile(folder.manifestPath), "out-dir");
    expect(manifest).toMatchObject({
      schemaVersion: 1,
      name: "test-bundle",
      created: NOW.toISOString(),
      arch: ["amd64"],
    });
    expect(folder.manifest).toEqual(manifest);
    expect(manifest.artifacts.map((artifact) => [artifact.path, artifact.kind, artifact.arch])).toEqual([
      ["k3s/k3s", "k3s-binary", "amd64"],
      ["k3s/images.tar.zst", "k3s-images", "amd64"],
      ["images/app.tar", "image-archive", "all"],
      ["debs/tool.deb", "deb", "amd64"],
    ]);
    expect(manifest.artifacts[0]).toMatchObject({
      sha256: sha256(k3s),
      size: k3s.length,
      name: "k3s",
      version: "1.0",
    });
    expect(manifest.artifacts[1]).toMatchObject({ sha256: sha256(images), size: images.length });
    expect(manifest.artifacts[2]?.format).toBe("oci-archive");
    expect(manifest.artifacts[3]).toMatchObject({ sha256: sha256(deb), component: "host" });
    for (const artifact of manifest.artifacts) {
      const bytes = await readFile(path.join(dir, "out-dir", artifact.path));
      expect([bytes.length, sha256(bytes)]).toEqual([artifact.size, artifact.sha256]);
    }
    expect(folder.bytes).toBe(manifest.artifacts.reduce((sum, artifact) => sum + artifact.size, 0));

    // The OCI layout became a deterministic tar: sorted, folders first, normalized headers.
    const packed = await readTar(await readFile(path.join(dir, "out-dir", "images/app.tar")));
    expect(packed.map((member) => member.path)).toEqual([
      "blobs/",
      "blobs/sha256/",
      [...layout.keys()][2],
      "index.json",
      "oci-layout",
    ]);
    for (const member of packed) {
      expect([member.uid, member.gid, member.mtime]).toEqual([0, 0, 0]);
      expect(member.mode).toBe(member.type === "Directory" ? 0o755 : 0o644);
      if (member.type === "File") expect(member.bytes.equals(layout.get(member.path)!)).toBe(true);
    }

    const tar = await build("out.tar");
    const tarBytes = await readFile(path.join(dir, "out.tar"));
    const inTar = await tarManifest(tarBytes);
    expect(inTar.manifest).toEqual(manifest);
    expect(inTar.members.map((member) => member.path)).toEqual([
      "manifest.json",
      ...manifest.artifacts.map((artifact) => artifact.path),
    ]);
    for (const [index, artifact] of manifest.artifacts.entries()) {
      const member = inTar.members[index + 1]!;
      expect(sha256(member.bytes)).toBe(artifact.sha256);
      expect([member.uid, member.gid, member.mtime, member.mode]).toEqual([0, 0, 0, 0o644]);
    }
    expect(tar.manifestPath).toBe(path.join(dir, "out.tar"));

    // bundle add's rewriter packs a bundle folder into the very same tar.
    await packBundleDir(path.join(dir, "out-dir"), path.join(dir, "repacked.tar"));
    expect(sha256(await readFile(path.join(dir, "repacked.tar")))).toBe(sha256(tarBytes));

    await build("out.tar.zst");
    const unpacked = unzstd(path.join(dir, "out.tar.zst"));
    // Same lock, same time: the same bytes, compressed or not.
    expect(sha256(unpacked)).toBe(sha256(tarBytes));

    // Each download was fetched once; later builds used the kept cache.
    expect(server.requests("/k3s")).toHaveLength(1);
    expect(server.requests("/images.tar.zst")).toHaveLength(1);
    const origins = events.flatMap((event) =>
      event.type === "artifact.done" ? [`${event.path}:${event.origin}`] : [],
    );
    expect(origins.slice(0, 4).sort()).toEqual([
      "debs/tool.deb:copied",
      "images/app.tar:copied",
      "k3s/images.tar.zst:downloaded",
      "k3s/k3s:downloaded",
    ]);
    expect(origins.slice(4).sort()).toEqual(
      ["debs/tool.deb:cached", "images/app.tar:copied", "k3s/images.tar.zst:cached", "k3s/k3s:cached"]
        .concat([
          "debs/tool.deb:cached",
          "images/app.tar:copied",
          "k3s/images.tar.zst:cached",
          "k3s/k3s:cached",
        ])
        .sort(),
    );
    expect(existsSync(cacheDir)).toBe(true); // an explicit cache is kept
    expect(await leftovers()).toEqual(["out-dir", "out.tar", "out.tar.zst"]);
  });

  it("removes the default cache after success, refuses an existing output, and replaces it with force", async () => {
    const k3s = serve("/k3s", 200_000);
    const lockFile = await writeLock([
      { path: "k3s", kind: "k3s-binary", source: server.url("/k3s"), sha256: sha256(k3s) },
    ]);
    const out = path.join(dir, "out");
    await buildBundle({ lockFile, out });
    expect(existsSync(`${out}.download`)).toBe(false);

    const exists = await failure(buildBundle({ lockFile, out }));
    expect(exists.code).toBe("BUNDLE_OUTPUT_EXISTS");
    expect(server.requests("/k3s")).toHaveLength(1); // refused before fetching anything

    await writeFile(path.join(out, "stale"), "old");
    await buildBundle({ lockFile, out, force: true });
    expect((await readdir(out)).sort()).toEqual(["k3s", "manifest.json"]);
    expect(await leftovers()).toEqual(["out"]);
  });

  it("refuses unpinned downloads unless allowed, then records their digest with a warning", async () => {
    const chart = serve("/chart.tgz", 10_000);
    const lockFile = await writeLock([
      {
        path: "chart.tgz",
        kind: "helm-chart",
        source: server.url("/chart.tgz"),
        unverified: "no checksums upstream",
        arch: "all",
      },
    ]);
    const out = path.join(dir, "out.tar");
    const refused = await failure(buildBundle({ lockFile, out }));
    expect(refused.code).toBe("BUNDLE_LOCK_INVALID");
    expect(refused.message).toContain("chart.tgz: unverified: no checksums upstream");
    expect(refused.message).toContain("--allow-unpinned");
    expect(server.seen).toHaveLength(0);

    const events: BuildEvent[] = [];
    await buildBundle({ lockFile, out, allowUnpinned: true, onEvent: (event) => events.push(event) });
    const { manifest } = await tarManifest(await readFile(out));
    expect(manifest.artifacts[0]).toMatchObject({ sha256: sha256(chart), size: chart.length });
    expect(events).toContainEqual({
      type: "warning.raised",
      path: "chart.tgz",
      message: expect.stringContaining(sha256(chart)) as unknown,
    });
  });
});

describe("bundle build: resume after a kill", () => {
  const compiled = path.resolve("dist", "server", "bundle", "build.js");

  it("a killed build's .part is continued with a Range request by the next build", async () => {
    if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build:cli\` first`);
    const size = 4_000_000;
    const k3s = serve("/k3s", size, { chunk: 32 * 1024, delayMs: 10 });
    const lockFile = await writeLock([
      { path: "k3s/k3s", kind: "k3s-binary", source: server.url("/k3s"), sha256: sha256(k3s) },
    ]);
    const out = path.join(dir, "out.tar");
    const script = path.join(dir, "build.mjs");
    await writeFile(
      script,
      [
        `import { buildBundle } from ${JSON.stringify(pathToFileURL(compiled).href)};`,
        "await buildBundle({ lockFile: process.argv[2], out: process.argv[3] });",
      ].join("\n"),
    );
    const child = spawn(process.execPath, [script, lockFile, out], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => {
      child.on("exit", (code, signal) => {
        resolve(signal ?? code);
      });
    });
    const part = path.join(`${out}.download`, "sha256", `${sha256(k3s)}.part`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const held = await stat(part).then(
        (info) => info.size,
        () => 0,
      );
      if (held >= 256 * 1024) break;
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`no progress from the child: ${stderr}`);
      await sleep(10);
    }
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    expect(existsSync(out)).toBe(false);
    const kept = (await stat(part)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(size);

    server.behaviour.set("/k3s", {}); // full speed now
    const events: BuildEvent[] = [];
    await buildBundle({ lockFile, out, onEvent: (event) => events.push(event) });
    const ranges = server.requests("/k3s").map((seen) => seen.range);
    expect(ranges[0]).toBeUndefined();
    const resumed = ranges.slice(1).map((range) => Number(/^bytes=(\d+)-$/.exec(range ?? "")?.[1]));
    expect(resumed).toEqual([kept]);
    expect(resumed[0]).toBeGreaterThan(0);
    expect(server.requests("/k3s")[1]?.status).toBe(206);
    expect(server.bytesServed("/k3s")).toBeLessThan(2 * size);
    expect(events).toContainEqual(
      expect.objectContaining({ type: "artifact.done", path: "k3s/k3s", resumedFrom: kept }),
    );

    const { manifest, members } = await tarManifest(await readFile(out));
    expect(manifest.artifacts[0]).toMatchObject({ sha256: sha256(k3s), size });
    expect(sha256(members[1]!.bytes)).toBe(sha256(k3s));
    expect(await leftovers()).toEqual(["out.tar"]);
  });

  it("a connection cut mid-file is resumed within the same build", async () => {
    const k3s = serve("/k3s", 3_000_000, { cutAfter: 1_000_000 });
    const lockFile = await writeLock([
      { path: "k3s", kind: "k3s-binary", source: server.url("/k3s"), sha256: sha256(k3s) },
    ]);
    const events: BuildEvent[] = [];
    await buildBundle({
      lockFile,
      out: path.join(dir, "out"),
      download: noWait,
      onEvent: (event) => events.push(event),
    });
    const [first, second] = server.requests("/k3s");
    expect(first?.range).toBeUndefined();
    expect(Number(/^bytes=(\d+)-$/.exec(second?.range ?? "")?.[1])).toBeGreaterThan(0);
    expect(server.bytesServed("/k3s")).toBeLessThan(2 * k3s.length);
    expect(events.filter((event) => event.type === "artifact.retried")).toHaveLength(1);
    expect(sha256(await readFile(path.join(dir, "out", "k3s")))).toBe(sha256(k3s));
  });
});

describe("bundle build: failures", () => {
  it("a sha256 mismatch names the artifact and leaves no file under the final name and no output", async () => {
    const k3s = serve("/k3s", 500_000, { wrongBytes: true });
    const good = serve("/other", 1000);
    const lockFile = await writeLock([
      { path: "k3s/k3s", kind: "k3s-binary", source: server.url("/k3s"), sha256: sha256(k3s) },
      { path: "other", kind: "manifest", source: server.url("/other"), sha256: sha256(good), arch: "all" },
    ]);
    for (const out of ["out", "out.tar"]) {
      const error = await failure(buildBundle({ lockFile, out: path.join(dir, out) }));
      expect(error.code).toBe("BUNDLE_ARTIFACT_MISMATCH");
      expect(error.message).toContain("k3s/k3s");
      expect(error.message).toContain(server.url("/k3s"));
      expect(error.message).toContain(sha256(k3s));
      expect(error.message).toContain(sha256(Buffer.from(k3s.map((byte) => byte ^ 0xff))));
      const cached = path.join(dir, `${out}.download`, "sha256", sha256(k3s));
      expect(existsSync(cached)).toBe(false);
      expect(existsSync(`${cached}.part`)).toBe(false);
      expect(existsSync(path.join(dir, out))).toBe(false);
      expect((await readdir(dir)).filter((name) => name.includes(".partial-"))).toEqual([]);
    }
  });

  it("retries transient 500s and gives up after the retries", async () => {
    const k3s = serve("/k3s", 100_000, { fail500: 2 });
    const lockFile = await writeLock([
      { path: "k3s", kind: "k3s-binary", source: server.url("/k3s"), sha256: sha256(k3s) },
    ]);
    const events: BuildEvent[] = [];
    await buildBundle({
      lockFile,
      out: path.join(dir, "out"),
      download: noWait,
      onEvent: (event) => events.push(event),
    });
    expect(server.requests("/k3s").map((seen) => seen.status)).toEqual([500, 500, 200]);
    expect(events.filter((event) => event.type === "artifact.retried").map((event) => event.attempt)).toEqual(
      [1, 2],
    );

    server.behaviour.set("/k3s", { fail500: 100 });
    const error = await failure(
      buildBundle({ lockFile, out: path.join(dir, "again"), download: { ...noWait, retries: 3 } }),
    );
    expect(error.code).toBe("BUNDLE_DOWNLOAD_FAILED");
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/^k3s: download of .* failed after 3 retries: .*HTTP 500/);
    expect(server.requests("/k3s")).toHaveLength(3 + 4);
  });

  it("does not retry a 404", async () => {
    const lockFile = await writeLock([
      { path: "k3s", kind: "k3s-binary", source: server.url("/missing"), sha256: "0".repeat(64) },
    ]);
    const events: BuildEvent[] = [];
    const error = await failure(
      buildBundle({
        lockFile,
        out: path.join(dir, "out"),
        download: noWait,
        onEvent: (event) => events.push(event),
      }),
    );
    expect(error.code).toBe("BUNDLE_DOWNLOAD_FAILED");
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(`k3s: ${server.url("/missing")}: HTTP 404`);
    expect(server.requests("/missing")).toHaveLength(1);
    expect(events.some((event) => event.type === "artifact.retried")).toBe(false);
    expect(await leftovers()).toEqual([]);
  });

  it("says to install zstd, before downloading anything, when a .tar.zst is asked for without it", async () => {
    const k3s = serve("/k3s", 1000);
    const lockFile = await writeLock([
      { path: "k3s", kind: "k3s-binary", source: server.url("/k3s"), sha256: sha256(k3s) },
    ]);
    const saved = process.env["PATH"];
    process.env["PATH"] = path.join(dir, "empty-path");
    try {
      const error = await failure(buildBundle({ lockFile, out: path.join(dir, "out.tar.zst") }));
      expect(error.code).toBe("BUNDLE_UNREADABLE");
      expect(error.message).toContain("install zstd");
    } finally {
      process.env["PATH"] = saved;
    }
    expect(server.seen).toHaveLength(0);
  });

  it("refuses a folder source that is not an OCI layout before downloading anything", async () => {
    const k3s = serve("/k3s", 1000);
    await mkdir(path.join(dir, "not-oci"));
    const lockFile = await writeLock([
      { path: "k3s", kind: "k3s-binary", source: server.url("/k3s"), sha256: sha256(k3s) },
      { path: "app.tar", kind: "image-archive", source: "file:not-oci", arch: "all" },
    ]);
    const error = await failure(buildBundle({ lockFile, out: path.join(dir, "out") }));
    expect(error.code).toBe("BUNDLE_LOCK_INVALID");
    expect(error.message).toContain("without oci-layout");
    expect(server.seen).toHaveLength(0);
  });
});

describe("bundle build: atomic output", () => {
  /** What is under `target` now: a file's size, a folder's sorted entries, or undefined. */
  async function snapshot(target: string): Promise<string | undefined> {
    const info = await stat(target).catch(() => undefined);
    if (info === undefined) return undefined;
    if (info.isFile()) return `file ${info.size}`;
    const names = await readdir(target);
    const sizes = await Promise.all(
      names.sort().map(async (name) => `${name}:${(await stat(path.join(target, name))).size}`),
    );
    return sizes.join(",");
  }

  for (const out of ["out", "out.tar", "out.tar.zst"]) {
    it(`${out} does not exist until the build is complete`, async () => {
      const k3s = serve("/k3s", 2_000_000, { chunk: 64 * 1024, delayMs: 5 });
      const lockFile = await writeLock([
        { path: "k3s", kind: "k3s-binary", source: server.url("/k3s"), sha256: sha256(k3s) },
      ]);
      const target = path.join(dir, out);
      const seenDuring: boolean[] = [];
      const building = buildBundle({
        lockFile,
        out: target,
        onEvent: (event) => {
          if (event.type !== "bundle.written") seenDuring.push(existsSync(target));
        },
      } satisfies BuildOptions);
      const state = { done: false };
      const settled = building.then(
        () => (state.done = true),
        () => (state.done = true),
      );
      const polled: (string | undefined)[] = [];
      while (!state.done) {
        polled.push(await snapshot(target));
        await sleep(5);
      }
      await settled;
      await building;
      const final = await snapshot(target);
      expect(final).toBeDefined();
      // Never there while artifacts were fetched; once there, always the complete bundle.
      expect(seenDuring.length).toBeGreaterThan(3);
      expect(seenDuring.every((present) => !present)).toBe(true);
      const appeared = polled.findIndex((seen) => seen !== undefined);
      expect(appeared === -1 ? polled.length : appeared).toBeGreaterThan(3);
      if (appeared !== -1) expect(polled.slice(appeared).every((seen) => seen === final)).toBe(true);
    });
  }
});

describe("download", () => {
  it("starts over when the server answers 200 to a Range request", async () => {
    const bytes = serve("/file", 300_000, { ignoreRange: true });
    const dest = path.join(dir, "file");
    await writeFile(`${dest}.part`, bytes.subarray(0, 100_000));
    const result = await download({
      url: server.url("/file"),
      dest,
      expectedSha256: sha256(bytes),
      ...noWait,
    });
    expect(result).toEqual({ sha256: sha256(bytes), size: bytes.length, resumedFrom: 0 });
    expect(server.requests("/file").map((seen) => [seen.range, seen.status])).toEqual([
      ["bytes=100000-", 200],
    ]);
    expect((await readFile(dest)).equals(bytes)).toBe(true);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it("verifies a complete part when the server answers 416", async () => {
    const bytes = serve("/file", 50_000);
    const dest = path.join(dir, "file");
    await writeFile(`${dest}.part`, bytes);
    const result = await download({ url: server.url("/file"), dest, expectedSha256: sha256(bytes) });
    expect(result.resumedFrom).toBe(bytes.length);
    expect(server.requests("/file").map((seen) => seen.status)).toEqual([416]);
    expect(server.bytesServed("/file")).toBe(0);
    expect((await readFile(dest)).equals(bytes)).toBe(true);
  });

  it("starts over once when a resumed file does not verify (stale bytes in the part)", async () => {
    const bytes = serve("/file", 200_000);
    const dest = path.join(dir, "file");
    await writeFile(`${dest}.part`, randomBytes(50_000));
    const result = await download({ url: server.url("/file"), dest, expectedSha256: sha256(bytes) });
    expect(result.resumedFrom).toBe(0);
    expect(server.requests("/file").map((seen) => seen.range)).toEqual(["bytes=50000-", undefined]);
    expect((await readFile(dest)).equals(bytes)).toBe(true);
  });

  it("follows up to 5 redirects and refuses a sixth", async () => {
    const bytes = serve("/file", 1000);
    for (let hop = 1; hop <= 6; hop++) {
      server.behaviour.set(`/r${hop}`, { redirectTo: hop === 1 ? "/file" : `/r${hop - 1}` });
    }
    const dest = path.join(dir, "file");
    const result = await download({ url: server.url("/r5"), dest, expectedSha256: sha256(bytes) });
    expect(result.sha256).toBe(sha256(bytes));
    const error = await failure(download({ url: server.url("/r6"), dest: path.join(dir, "again") }));
    expect(error.code).toBe("BUNDLE_DOWNLOAD_FAILED");
    expect(error.message).toContain("more than 5 redirects");
  });

  it("reports progress up to the whole size", async () => {
    const bytes = serve("/file", 300_000);
    const progress: [number, number | undefined][] = [];
    await download({
      url: server.url("/file"),
      dest: path.join(dir, "file"),
      expectedSize: bytes.length,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(progress.at(-1)).toEqual([bytes.length, bytes.length]);
    expect(progress.every(([done], index) => index === 0 || done >= progress[index - 1]![0])).toBe(true);
  });

  it("refuses a file of the wrong size and deletes the part", async () => {
    const bytes = serve("/file", 1000);
    const dest = path.join(dir, "file");
    const error = await failure(download({ url: server.url("/file"), dest, expectedSize: 999 }));
    expect(error.code).toBe("BUNDLE_ARTIFACT_MISMATCH");
    expect(error.message).toContain(sha256(bytes));
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });
});
