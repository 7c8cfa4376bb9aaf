import { describe, expect, it } from "vitest";
import { parseImageReference } from "../../agent/registry/reference.js";
import { isGroundcrewError } from "../../shared/errors.js";

describe("parseImageReference", () => {
  it.each([
    ["docker.io/library/busybox:1.35", "library/busybox", "1.35"],
    ["busybox:1.35", "library/busybox", "1.35"],
    ["index.docker.io/busybox:1.35", "library/busybox", "1.35"],
    ["registry.k8s.io/pause:3.9", "pause", "3.9"],
    ["ghcr.io/org/app:v1", "org/app", "v1"],
    ["rancher/mirrored-pause:3.6", "rancher/mirrored-pause", "3.6"],
    ["localhost:5000/team/app", "team/app", "latest"],
    ["localhost/app:v2", "app", "v2"],
    ["quay.io/a/b/c__d.e-f:V_1.0-rc", "a/b/c__d.e-f", "V_1.0-rc"],
  ])("%s -> %s:%s", (reference, repository, tag) => {
    expect(parseImageReference(reference, "test.tar")).toEqual({ repository, tag });
  });

  it.each([
    ["", "empty"],
    ["busybox@sha256:" + "a".repeat(64), "digest"],
    ["docker.io/library/busybox:bad/tag", "tag with slash"],
    ["busybox:-x", "tag starting with -"],
    ["busybox:" + "a".repeat(129), "tag too long"],
    ["ghcr.io/Org/app:v1", "upper case repository"],
    ["ghcr.io/org//app:v1", "empty component"],
    ["ghcr.io/org/app-:v1", "trailing separator"],
    ["ghcr.io/:v1", "no repository"],
  ])("refuses %j (%s) with IMAGE_REFERENCE_INVALID naming where", (reference) => {
    let caught: unknown;
    try {
      parseImageReference(reference, "images.tar: manifest.json[0]");
    } catch (error) {
      caught = error;
    }
    expect(isGroundcrewError(caught, "IMAGE_REFERENCE_INVALID")).toBe(true);
    expect(String(caught)).toContain("images.tar: manifest.json[0]");
  });
});
