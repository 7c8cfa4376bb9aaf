import { describe, expect, it } from "vitest";
import { canonicalBytes, parseManifest, renderManifest } from "../../server/bundle/manifest.js";
import { unsafePathReason } from "../../server/bundle/safe-path.js";
import { GroundcrewError } from "../../shared/errors.js";
import { manifestFor } from "../fakes/bundle-fixture.js";

const good = manifestFor([
  { path: "k3s/amd64/k3s", kind: "k3s-binary", content: "k3s" },
  { path: "debs/containerd.deb", kind: "deb", content: "deb", component: "docker" },
]);

function bytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function parseError(value: unknown): GroundcrewError {
  try {
    parseManifest(bytes(value), "b.tar");
  } catch (error) {
    if (error instanceof GroundcrewError) return error;
    throw error;
  }
  throw new Error("the manifest was accepted");
}

describe("bundle manifest", () => {
  it("accepts a valid manifest and renders it back identically", () => {
    const { manifest } = parseManifest(Buffer.from(renderManifest(good)), "b");
    expect(manifest).toEqual(good);
  });

  it.each([
    [
      "a missing sha256",
      { ...good, artifacts: [{ ...good.artifacts[0], sha256: undefined }] },
      "artifacts[0].sha256",
    ],
    [
      "a short sha256",
      { ...good, artifacts: [{ ...good.artifacts[0], sha256: "abc" }] },
      "artifacts[0].sha256",
    ],
    [
      "an uppercase sha256",
      { ...good, artifacts: [{ ...good.artifacts[0], sha256: "A".repeat(64) }] },
      "sha256",
    ],
    ["a negative size", { ...good, artifacts: [{ ...good.artifacts[0], size: -1 }] }, "artifacts[0].size"],
    ["an unknown kind", { ...good, artifacts: [{ ...good.artifacts[0], kind: "rpm" }] }, "artifacts[0].kind"],
    ["an unknown key", { ...good, extra: 1 }, "extra"],
    ["a missing name", { ...good, name: undefined }, "name"],
    ["another schema version", { ...good, schemaVersion: 2 }, "schemaVersion"],
    [
      "an arch the bundle does not declare",
      { ...good, artifacts: [{ ...good.artifacts[0], arch: "arm64" }] },
      "artifacts[0].arch",
    ],
    [
      "component on a non-deb",
      { ...good, artifacts: [{ ...good.artifacts[0], component: "docker" }] },
      "component applies",
    ],
    ["a path listed twice", { ...good, artifacts: [good.artifacts[0], good.artifacts[0]] }, "listed twice"],
  ])("refuses %s, naming the field", (_label, value, named) => {
    const error = parseError(value);
    expect(error.code).toBe("BUNDLE_INVALID");
    expect(error.message).toContain("b.tar");
    expect(error.message).toContain(named);
  });

  it.each([
    ["../etc/passwd", "'..'"],
    ["a/../../x", "'..'"],
    ["/etc/passwd", "absolute"],
    ["a\\..\\b", "backslash"],
    ["a//b", "empty"],
    ["./a", "'.'"],
    ["a\u0000b", "control"],
    ["", "empty"],
  ])("refuses the artifact path %j as unsafe", (unsafe, reason) => {
    const error = parseError({ ...good, artifacts: [{ ...good.artifacts[0], path: unsafe }] });
    expect(error.code).toBe("BUNDLE_UNSAFE_PATH");
    expect(error.message).toContain(reason);
  });

  it("refuses a path that would replace the manifest or its signature", () => {
    expect(
      parseError({ ...good, artifacts: [{ ...good.artifacts[0], path: "manifest.sig" }] }).message,
    ).toContain("reserved");
  });

  it("refuses bytes that are not JSON or not UTF-8", () => {
    expect(() => parseManifest(Buffer.from("{"), "b")).toThrow(/not JSON/);
    expect(() => parseManifest(Buffer.from([0x7b, 0xff, 0x7d]), "b")).toThrow(/not JSON/);
  });

  it("has canonical bytes that ignore key order and formatting", () => {
    const reordered: unknown = JSON.parse(
      `{"name":"test-bundle","artifacts":${JSON.stringify(good.artifacts)},"arch":["amd64"],"schemaVersion":1,"created":"${good.created}"}`,
    );
    expect(canonicalBytes(reordered).equals(canonicalBytes(good))).toBe(true);
    expect(canonicalBytes({ b: 1, a: [{ d: 2, c: 3 }] }).toString()).toBe('{"a":[{"c":3,"d":2}],"b":1}');
  });

  it("names safe paths safe", () => {
    expect(unsafePathReason("k3s/amd64/k3s-airgap-images-amd64.tar.zst")).toBeUndefined();
  });
});
