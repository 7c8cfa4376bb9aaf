import { describe, expect, it } from "vitest";
import { GroundcrewError } from "../../shared/errors.js";
import { parseImageReference } from "../../server/images/image-reference.js";

function thrown(run: () => unknown): GroundcrewError {
  try {
    run();
  } catch (error) {
    if (error instanceof GroundcrewError) return error;
    throw error;
  }
  throw new Error("the reference was accepted");
}

describe("parseImageReference", () => {
  it.each([
    ["docker.io/library/busybox:1.35", "docker.io/library/busybox:1.35", "busybox:1.35", "busybox"],
    ["busybox:1.35", "docker.io/library/busybox:1.35", "busybox:1.35", "busybox"],
    ["index.docker.io/library/busybox:1.35", "docker.io/library/busybox:1.35", "busybox:1.35", "busybox"],
    [
      "rancher/mirrored-pause:3.6",
      "docker.io/rancher/mirrored-pause:3.6",
      "rancher/mirrored-pause:3.6",
      "rancher/mirrored-pause",
    ],
    [
      "registry.local:5000/team/app__x.y-z:v1_2.3-rc",
      "registry.local:5000/team/app__x.y-z:v1_2.3-rc",
      "registry.local:5000/team/app__x.y-z:v1_2.3-rc",
      "registry.local:5000/team/app__x.y-z",
    ],
    [
      "localhost/demo/busybox:1",
      "localhost/demo/busybox:1",
      "localhost/demo/busybox:1",
      "localhost/demo/busybox",
    ],
  ])("normalizes %s", (reference, canonical, familiar, familiarName) => {
    const parsed = parseImageReference(reference);
    expect(parsed.canonical).toBe(canonical);
    expect(parsed.familiar).toBe(familiar);
    expect(parsed.familiarName).toBe(familiarName);
    expect(`${parsed.domain}/${parsed.path}:${parsed.tag}`).toBe(canonical);
  });

  it.each([
    ["busybox", "a tag is required"],
    ["localhost:5000/busybox", "a tag is required"],
    ["busybox:", "the tag"],
    ["busybox:-x", "the tag"],
    [`busybox:${"t".repeat(129)}`, "the tag"],
    ["Busybox:1", "path component"],
    ["library/BusyBox:1", "path component"],
    ["a//b:1", "path component"],
    [":1", "path component"],
    ["a-:1", "path component"],
    ["a.-b:1", "path component"],
    ["bad_domain.example/x:1", "registry domain"],
    ["busybox@sha256:" + "0".repeat(64), "digest"],
    [`x/${"a".repeat(260)}:1`, "longer than 255"],
  ])("rejects %s with IMAGE_REFERENCE_INVALID naming it", (reference, why) => {
    const error = thrown(() => parseImageReference(reference));
    expect(error.code).toBe("IMAGE_REFERENCE_INVALID");
    expect(error.message).toContain(JSON.stringify(reference));
    expect(error.message).toContain(why);
    expect(error.context).toEqual({ reference });
  });
});
