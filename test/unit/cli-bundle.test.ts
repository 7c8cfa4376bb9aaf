import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { debFileName } from "../../server/cli/commands/bundle.js";
import { createProgram } from "../../server/cli/program.js";
import { writeDirectoryBundle } from "../fakes/bundle-fixture.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gc-cli-bundle-"));
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

describe("groundcrew bundle", () => {
  it("keygen, add, sign, verify with the key, inspect: one round trip", async () => {
    const bundle = path.join(dir, "b");
    await writeDirectoryBundle(bundle, [{ path: "k3s/amd64/k3s", kind: "k3s-binary", content: "k3s" }]);
    const keys = path.join(dir, "release");
    expect((await groundcrew("bundle", "keygen", "--out", keys)).out).toMatch(/^key [0-9a-f]{16}: private /);
    expect((await stat(`${keys}.key`)).mode & 0o777).toBe(0o600);

    const deb = path.join(dir, "runc_1.1.5+ds1-1_amd64.deb");
    await writeFile(deb, "deb bytes");
    const added = await groundcrew("bundle", "add", bundle, deb, "--kind", "deb", "--component", "docker");
    expect(added.out).toContain("added deb/runc_1.1.5+ds1-1_amd64.deb (9 B, sha256 ");

    expect((await groundcrew("bundle", "sign", bundle, "--key", `${keys}.key`)).out).toMatch(
      /^signed .* with key/,
    );
    const verified = await groundcrew("bundle", "verify", bundle, "--key", `${keys}.pub`);
    expect(verified.out).toContain("2 artifact(s), 12 B, every size and sha256 matches; signature verified");

    const inspected = z
      .object({
        artifacts: z.array(z.object({ path: z.string(), name: z.string(), version: z.string() })),
        signature: z.object({ keyId: z.string() }).nullable(),
      })
      .parse(JSON.parse((await groundcrew("bundle", "inspect", bundle, "--json")).out));
    expect(inspected.artifacts.map((artifact) => [artifact.path, artifact.name, artifact.version])).toEqual([
      ["k3s/amd64/k3s", "k3s", "1.0"],
      ["deb/runc_1.1.5+ds1-1_amd64.deb", "runc", "1.1.5+ds1-1"],
    ]);
    expect(inspected.signature?.keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it("adding to a signed bundle drops the signature and says so", async () => {
    const bundle = path.join(dir, "b");
    await writeDirectoryBundle(bundle, [{ path: "a/x", kind: "manifest", content: "x", arch: "all" }]);
    await groundcrew("bundle", "keygen", "--out", path.join(dir, "k"));
    await groundcrew("bundle", "sign", bundle, "--key", path.join(dir, "k.key"));
    const file = path.join(dir, "values.yaml");
    await writeFile(file, "a: 1\n");
    const added = await groundcrew(
      "bundle",
      "add",
      bundle,
      file,
      "--kind",
      "manifest",
      "--version",
      "1",
      "--arch",
      "all",
    );
    expect(added.progress).toContain("signature was removed");
    await expect(groundcrew("bundle", "verify", bundle, "--key", path.join(dir, "k.pub"))).rejects.toThrow(
      /not signed/,
    );
  });

  it("refuses to overwrite keys, and an add without a version it cannot infer", async () => {
    await groundcrew("bundle", "keygen", "--out", path.join(dir, "k"));
    const before = await readFile(path.join(dir, "k.key"), "utf8");
    await expect(groundcrew("bundle", "keygen", "--out", path.join(dir, "k"))).rejects.toThrow(/exists/);
    expect(await readFile(path.join(dir, "k.key"), "utf8")).toBe(before);
    const bundle = path.join(dir, "b");
    await writeDirectoryBundle(bundle, []);
    await writeFile(path.join(dir, "tool"), "x");
    await expect(
      groundcrew("bundle", "add", bundle, path.join(dir, "tool"), "--kind", "manifest"),
    ).rejects.toThrow(/--version is needed/);
  });

  it("reads Debian file names", () => {
    expect(debFileName("containerd_1.6.20~ds1-1+deb12u3_amd64.deb")).toEqual({
      name: "containerd",
      version: "1.6.20~ds1-1+deb12u3",
      arch: "amd64",
    });
    expect(debFileName("libc6_2%3a2.36-9_arm64.deb")?.version).toBe("2:2.36-9");
    expect(debFileName("notes.txt")).toBeUndefined();
  });

  it("adds an OCI image layout folder as one tar (oci-archive)", async () => {
    const bundle = path.join(dir, "b");
    await writeDirectoryBundle(bundle, []);
    const layout = path.join(dir, "app");
    await mkdir(path.join(layout, "blobs", "sha256"), { recursive: true });
    await writeFile(path.join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(path.join(layout, "index.json"), '{"schemaVersion":2,"manifests":[]}');
    const added = await groundcrew(
      "bundle",
      "add",
      bundle,
      layout,
      "--kind",
      "image-archive",
      "--version",
      "1",
      "--arch",
      "amd64",
    );
    expect(added.out).toContain("added image-archive/app.tar");
    const inspected = await groundcrew("bundle", "inspect", bundle, "--json");
    expect(inspected.out).toContain('"format": "oci-archive"');
    await groundcrew("bundle", "verify", bundle);
  });
});
