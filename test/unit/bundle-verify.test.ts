import { mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SIGNATURE_FILE, renderManifest } from "../../server/bundle/manifest.js";
import { generateSigningKeys, renderSignature, signManifest } from "../../server/bundle/signature.js";
import { verifyBundle } from "../../server/bundle/verify-bundle.js";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { GroundcrewError } from "../../shared/errors.js";
import {
  manifestFor,
  rawTar,
  tarBundle,
  writeDirectoryBundle,
  type FixtureArtifact,
} from "../fakes/bundle-fixture.js";

const ARTIFACTS: FixtureArtifact[] = [
  { path: "k3s/amd64/k3s", kind: "k3s-binary", content: "k3s binary bytes" },
  { path: "debs/runc.deb", kind: "deb", content: Buffer.alloc(70_000, 7), component: "docker" },
];

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gc-bundle-"));
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
  throw new Error("the bundle was accepted");
}

describe("verifyBundle: directories", () => {
  it("accepts an intact bundle and points at each artifact's file", async () => {
    const bundle = path.join(dir, "b");
    await writeDirectoryBundle(bundle, ARTIFACTS);
    const verified = await verifyBundle(bundle);
    expect(verified.form).toBe("directory");
    expect(verified.signature).toEqual({ state: "absent" });
    expect(verified.artifacts.map((artifact) => artifact.file)).toEqual(
      ARTIFACTS.map((artifact) => path.join(bundle, artifact.path)),
    );
    expect(verified.totalBytes).toBe(16 + 70_000);
  });

  it("names a tampered artifact with both hashes", async () => {
    const bundle = path.join(dir, "b");
    const manifest = await writeDirectoryBundle(bundle, ARTIFACTS);
    await writeFile(path.join(bundle, "k3s/amd64/k3s"), "K3s binary bytes");
    const error = await failure(verifyBundle(bundle));
    expect(error.code).toBe("BUNDLE_ARTIFACT_MISMATCH");
    expect(error.message).toContain("k3s/amd64/k3s");
    expect(error.message).toContain(manifest.artifacts[0]?.sha256);
  });

  it("names a missing artifact and an unlisted file", async () => {
    const bundle = path.join(dir, "b");
    await writeDirectoryBundle(bundle, ARTIFACTS);
    await rm(path.join(bundle, "debs/runc.deb"));
    expect((await failure(verifyBundle(bundle))).code).toBe("BUNDLE_ARTIFACT_MISSING");
    await writeDirectoryBundle(bundle, ARTIFACTS);
    await writeFile(path.join(bundle, "stray.bin"), "x");
    const unlisted = await failure(verifyBundle(bundle));
    expect(unlisted.code).toBe("BUNDLE_UNLISTED_FILE");
    expect(unlisted.message).toContain("stray.bin");
  });

  it("refuses a symbolic link, which could point outside the bundle", async () => {
    const bundle = path.join(dir, "b");
    await writeDirectoryBundle(bundle, ARTIFACTS);
    await rm(path.join(bundle, "k3s/amd64/k3s"));
    await symlink("/etc/passwd", path.join(bundle, "k3s/amd64/k3s"));
    const error = await failure(verifyBundle(bundle));
    expect(error.code).toBe("BUNDLE_UNSAFE_PATH");
    expect(error.message).toContain("symbolic link");
  });
});

describe("verifyBundle: tars", () => {
  it("accepts an intact tar, and keeps its artifacts by sha256 when asked", async () => {
    const file = path.join(dir, "b.tar");
    await writeFile(file, tarBundle(ARTIFACTS));
    const keep = path.join(dir, "cas");
    const verified = await verifyBundle(file, { keepIn: keep });
    const manifest = manifestFor(ARTIFACTS);
    expect(verified.artifacts.map((artifact) => artifact.file)).toEqual(
      manifest.artifacts.map((artifact) => path.join(keep, "sha256", artifact.sha256)),
    );
    expect(await readdir(path.join(keep, "tmp"))).toEqual([]);
    // Again, with everything already kept: nothing is written.
    await verifyBundle(file, { keepIn: keep });
    expect((await readdir(path.join(keep, "sha256"))).length).toBe(2);
  });

  it("refuses a tampered artifact and keeps nothing of it", async () => {
    const file = path.join(dir, "b.tar");
    const manifest = manifestFor(ARTIFACTS);
    await writeFile(
      file,
      rawTar([
        { path: "manifest.json", content: renderManifest(manifest) },
        { path: "k3s/amd64/k3s", content: "k3s binary bytez" },
        { path: "debs/runc.deb", content: Buffer.alloc(70_000, 7) },
      ]),
    );
    const keep = path.join(dir, "cas");
    const error = await failure(verifyBundle(file, { keepIn: keep }));
    expect(error.code).toBe("BUNDLE_ARTIFACT_MISMATCH");
    expect(error.message).toContain("k3s/amd64/k3s");
    expect(error.message).not.toContain("runc.deb");
    expect(await readdir(path.join(keep, "tmp"))).toEqual([]);
  });

  it.each([
    ["../evil", undefined],
    ["/etc/cron.d/evil", undefined],
    ["a/../../evil", undefined],
    ["link", "SymbolicLink"],
    ["hard", "Link"],
  ] as const)("refuses the tar entry %s", async (entryPath, type) => {
    const file = path.join(dir, "b.tar");
    await writeFile(
      file,
      rawTar([
        { path: "manifest.json", content: renderManifest(manifestFor(ARTIFACTS)) },
        type === undefined
          ? { path: entryPath, content: "x" }
          : { path: entryPath, type, linkpath: "/etc/passwd" },
      ]),
    );
    const error = await failure(verifyBundle(file, { keepIn: path.join(dir, "cas") }));
    expect(error.code).toBe("BUNDLE_UNSAFE_PATH");
    expect(error.message).toContain(entryPath);
  });

  it("refuses a path that appears twice", async () => {
    const file = path.join(dir, "b.tar");
    const manifest = manifestFor(ARTIFACTS);
    await writeFile(
      file,
      rawTar([
        { path: "manifest.json", content: renderManifest(manifest) },
        ...ARTIFACTS.map((artifact) => ({ path: artifact.path, content: artifact.content })),
        { path: "k3s/amd64/k3s", content: "replacement" },
      ]),
    );
    expect((await failure(verifyBundle(file))).message).toContain("appears twice");
  });

  it("refuses a tar without a manifest, and bytes that are not a tar", async () => {
    const file = path.join(dir, "b.tar");
    await writeFile(file, rawTar([{ path: "x", content: "y" }]));
    expect((await failure(verifyBundle(file))).code).toBe("BUNDLE_INVALID");
    await writeFile(file, Buffer.alloc(3000, 0x41));
    expect((await failure(verifyBundle(file))).code).toBe("BUNDLE_UNREADABLE");
  });
});

describe("bundle signatures", () => {
  async function signedBundle(): Promise<{ bundle: string; publicKeyPem: string; privateKeyPem: string }> {
    const bundle = path.join(dir, "b");
    const manifest = await writeDirectoryBundle(bundle, ARTIFACTS);
    const keys = generateSigningKeys();
    const signature = signManifest(
      JSON.parse(renderManifest(manifest)),
      createPrivateKey(keys.privateKeyPem),
    );
    await writeFile(path.join(bundle, SIGNATURE_FILE), renderSignature(signature));
    return { bundle, ...keys };
  }

  it("verifies with the right key, and reports an unchecked signature without one", async () => {
    const { bundle, publicKeyPem } = await signedBundle();
    const key = createPublicKey(publicKeyPem);
    expect((await verifyBundle(bundle, { trustedKeys: [key] })).signature.state).toBe("verified");
    expect((await verifyBundle(bundle)).signature.state).toBe("unchecked");
  });

  it("refuses a wrong key, naming the key that signed", async () => {
    const { bundle } = await signedBundle();
    const other = createPublicKey(generateSigningKeys().publicKeyPem);
    const error = await failure(verifyBundle(bundle, { trustedKeys: [other] }));
    expect(error.code).toBe("BUNDLE_SIGNATURE_INVALID");
    expect(error.message).toMatch(/signed by key [0-9a-f]{16}, which is not trusted/);
  });

  it("refuses a manifest changed after signing", async () => {
    const { bundle, publicKeyPem } = await signedBundle();
    const manifest = manifestFor(ARTIFACTS, "renamed");
    await writeFile(path.join(bundle, "manifest.json"), renderManifest(manifest));
    const error = await failure(verifyBundle(bundle, { trustedKeys: [createPublicKey(publicKeyPem)] }));
    expect(error.code).toBe("BUNDLE_SIGNATURE_INVALID");
    expect(error.message).toContain("changed after it was signed");
  });

  it("refuses a tampered artifact even though the signature is good", async () => {
    const { bundle, publicKeyPem } = await signedBundle();
    await writeFile(path.join(bundle, "debs/runc.deb"), Buffer.alloc(70_000, 8));
    const error = await failure(verifyBundle(bundle, { trustedKeys: [createPublicKey(publicKeyPem)] }));
    expect(error.code).toBe("BUNDLE_ARTIFACT_MISMATCH");
    expect(error.message).toContain("debs/runc.deb");
  });

  it("refuses an unsigned bundle when a key is trusted", async () => {
    const bundle = path.join(dir, "b");
    await writeDirectoryBundle(bundle, ARTIFACTS);
    const key = createPublicKey(generateSigningKeys().publicKeyPem);
    expect((await failure(verifyBundle(bundle, { trustedKeys: [key] }))).code).toBe(
      "BUNDLE_SIGNATURE_MISSING",
    );
  });
});
