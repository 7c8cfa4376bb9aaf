import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import { LockInvalidError, loadLock, localSourcePath, parseLock } from "../../server/bundle/lock.js";

const FILE = "/work/bundles/edge.lock.yaml";
const SHA = "a".repeat(64);

/** A valid lock; `extra` lines are appended to the k3s entry (line 11 onwards). */
function lockText(extra: readonly string[] = []): string {
  return [
    "name: edge", // 1
    "arch: [amd64]", // 2
    "artifacts:", // 3
    "  - path: k3s/k3s", // 4
    "    kind: k3s-binary", // 5
    "    name: k3s", // 6
    "    version: v1.33.5+k3s1", // 7
    "    arch: amd64", // 8
    "    source: https://github.com/k3s-io/k3s/releases/download/v1.33.5%2Bk3s1/k3s", // 9
    `    sha256: ${SHA}`, // 10
    ...extra,
  ].join("\n");
}

/** The problems a lock text has, as "LINE: message". */
function problems(text: string): string[] {
  try {
    parseLock(text, FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(LockInvalidError);
    if (!(error instanceof LockInvalidError)) throw error;
    expect(error.message.split("\n").slice(1)).toEqual(
      error.problems.map((problem) => `${FILE}:${problem.line}: ${problem.message}`),
    );
    return error.problems.map((problem) => `${problem.line}: ${problem.message}`);
  }
  throw new Error("the lock was accepted");
}

function codeOf(text: string): string | undefined {
  try {
    parseLock(text, FILE);
  } catch (error) {
    return isGroundcrewError(error) ? error.code : undefined;
  }
  return undefined;
}

describe("bundle locks", () => {
  it("reads a valid lock and resolves file: sources from the lock's folder", () => {
    const lock = parseLock(
      lockText([
        "    verified: sha256sum-amd64.txt of the v1.33.5+k3s1 release",
        "  - path: images/app.tar",
        "    kind: image-archive",
        "    name: app",
        "    version: '1.0'",
        "    arch: all",
        "    source: file:../images/app-oci",
        "    format: oci-archive",
        "  - path: debs/docker-ce.deb",
        "    kind: deb",
        "    name: docker-ce",
        "    version: 5:28.0.0",
        "    arch: amd64",
        "    source: file:///srv/debs/docker-ce.deb",
        "    component: docker",
        "  - path: charts/x.tgz",
        "    kind: helm-chart",
        "    name: x",
        "    version: 1.2.3",
        "    arch: all",
        "    source: https://example.com/x.tgz",
        "    unverified: the project publishes no checksums",
      ]),
      FILE,
    );
    expect(lock.name).toBe("edge");
    expect(lock.arch).toEqual(["amd64"]);
    expect(lock.artifacts.map((artifact) => artifact.source)).toEqual([
      "https://github.com/k3s-io/k3s/releases/download/v1.33.5%2Bk3s1/k3s",
      "file:/work/images/app-oci",
      "file:/srv/debs/docker-ce.deb",
      "https://example.com/x.tgz",
    ]);
    expect(lock.artifacts[0]).toMatchObject({ sha256: SHA, kind: "k3s-binary" });
    expect(localSourcePath("file:/work/images/app-oci")).toBe("/work/images/app-oci");
    expect(localSourcePath("https://example.com/x")).toBeUndefined();
  });

  it("loads a lock file from disk and resolves relative sources against its folder", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "groundcrew-lock-"));
    try {
      const file = path.join(dir, "a.lock.yaml");
      await writeFile(
        file,
        lockText([
          "  - path: notes.txt",
          "    kind: manifest",
          "    name: notes",
          "    version: '1'",
          "    arch: all",
          "    source: file:notes.txt",
        ]),
      );
      const loaded = await loadLock(file);
      expect(loaded.dir).toBe(dir);
      expect(loaded.file).toBe(file);
      expect(loaded.lock.artifacts[1]?.source).toBe(`file:${path.join(dir, "notes.txt")}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("names an unreadable lock file", async () => {
    await expect(loadLock("/nonexistent/x.lock.yaml")).rejects.toMatchObject({
      code: "BUNDLE_LOCK_INVALID",
      message: expect.stringContaining("cannot read bundle lock /nonexistent/x.lock.yaml") as unknown,
    });
  });

  it("reads every value as text: versions keep their digits, an all-digit sha256 stays a string", () => {
    const digits = "0123456789".repeat(7).slice(0, 64);
    const lock = parseLock(
      lockText()
        .replace("version: v1.33.5+k3s1", "version: 1.10")
        .replace(`sha256: ${SHA}`, `sha256: ${digits}`),
      FILE,
    );
    expect(lock.artifacts[0]).toMatchObject({ version: "1.10", sha256: digits });
  });

  it("reports file: sources that name no local path", () => {
    const local = (source: string): string => lockText().replace(/source: .*/, `source: ${source}`);
    expect(problems(local("'file:'"))).toEqual(["9: artifacts[0].source: file: names no path"]);
    expect(problems(local("file://mirror/k3s"))).toEqual([
      expect.stringMatching(/^9: artifacts\[0\]\.source: File URL host must be "localhost" or empty/),
    ]);
  });

  it("reports YAML syntax errors at their line", () => {
    expect(problems("name: edge\narch: [amd64\nartifacts: []\n")[0]).toMatch(/^\d: not valid YAML: /);
    expect(problems("name: a\nname: b\n")).toEqual([expect.stringMatching(/^2: not valid YAML: .*unique/)]);
  });

  it("reports every schema problem at the line of its node", () => {
    expect(
      problems(
        [
          "name: edge", // 1
          "arch: [amd64, sparc]", // 2
          "extra: 1", // 3
          "artifacts:", // 4
          "  - path: k3s", // 5
          "    kind: k3s-binaryy", // 6
          "    name: k3s", // 7
          "    version: v1", // 8
          "    arch: amd64", // 9
          "    source: ftp://example.com/k3s", // 10
          "    sha256: ABC", // 11
          "    colour: red", // 12
          "  - path: b", // 13
          "    kind: deb", // 14
          "    arch: all", // 15
          "    source: https://example.com/b.deb", // 16
        ].join("\n"),
      ),
    ).toEqual([
      "2: arch[1]: Invalid enum value. Expected 'amd64' | 'arm64', received 'sparc'",
      '3: unknown key "extra" in the lock',
      expect.stringMatching(/^6: artifacts\[0\]\.kind: Invalid enum value\. Expected 'k3s-binary' \| /),
      "10: artifacts[0].source: a source is an http(s):// URL or file:PATH",
      "11: artifacts[0].sha256: a sha256 is 64 lowercase hex digits",
      '12: unknown key "colour" in artifacts[0]',
      "13: artifacts[1].name is missing",
      "13: artifacts[1].version is missing",
    ]);
  });

  it("suggests the key that was meant", () => {
    expect(problems(lockText(["    sha265: x"]))).toEqual([
      '11: unknown key "sha265" in artifacts[0] (did you mean "sha256"?)',
    ]);
  });

  it("reports missing top-level keys and an empty lock", () => {
    expect(problems("name: edge\n")).toEqual(["1: arch is missing", "1: artifacts is missing"]);
    expect(problems("")).toEqual(["1: (top level): Expected object, received null"]);
    expect(problems("name: edge\narch: [amd64]\nartifacts: []\n")).toEqual([
      "3: artifacts: Array must contain at least 1 element(s)",
    ]);
  });

  it("refuses a download with neither sha256 nor unverified, and one with both", () => {
    const withoutSha = lockText().replace(/\n {4}sha256: a+$/, "");
    expect(problems(withoutSha)).toEqual([
      "4: artifacts[0].sha256: a download needs a sha256 (or `unverified: <why>` when none could be confirmed)",
    ]);
    expect(problems(lockText(["    unverified: no checksums upstream"]))).toEqual([
      "11: artifacts[0].unverified: an entry with a sha256 is not unverified",
    ]);
    // A local source needs no sha256: it is hashed when it is collected.
    expect(() => parseLock(withoutSha.replace(/source: .*/, "source: file:k3s"), FILE)).not.toThrow();
  });

  it("refuses unsafe paths with BUNDLE_UNSAFE_PATH, at their lines", () => {
    const text = lockText()
      .replace("path: k3s/k3s", "path: ../etc/passwd")
      .concat(
        [
          "",
          "  - path: /abs",
          "    kind: deb",
          "    name: x",
          "    version: '1'",
          "    arch: amd64",
          `    source: https://example.com/x.deb`,
          `    sha256: ${SHA}`,
        ].join("\n"),
      );
    expect(problems(text)).toEqual([
      "4: artifacts[0].path: the path holds a '..' segment",
      "11: artifacts[1].path: the path is absolute",
    ]);
    expect(codeOf(text)).toBe("BUNDLE_UNSAFE_PATH");
    expect(problems(lockText().replace("path: k3s/k3s", "path: 'a\\\\b'"))).toEqual([
      "4: artifacts[0].path: the path holds a backslash",
    ]);
    expect(problems(lockText().replace("path: k3s/k3s", "path: a//b"))).toEqual([
      "4: artifacts[0].path: the path holds an empty or '.' segment",
    ]);
    // Mixed with other problems, the code is the general one.
    expect(codeOf(text.replace("name: edge", "name: ''"))).toBe("BUNDLE_LOCK_INVALID");
  });

  it("refuses duplicate, reserved and nested paths and what the manifest would refuse", () => {
    const entry = (lines: readonly string[]): string[] => [
      ...lines.map((line, index) => (index === 0 ? `  - ${line}` : `    ${line}`)),
    ];
    const text = lockText([
      ...entry([
        "path: k3s/k3s",
        "kind: deb",
        "name: again",
        "version: '1'",
        "arch: amd64",
        `source: file:x`,
      ]), // 11-16
      ...entry([
        "path: manifest.json",
        "kind: manifest",
        "name: m",
        "version: '1'",
        "arch: arm64",
        "source: file:m",
      ]), // 17-22
      ...entry([
        "path: k3s/k3s/inner",
        "kind: k3s-images",
        "name: i",
        "version: '1'",
        "arch: all",
        "source: file:i",
        "component: docker",
        "format: oci-archive",
      ]), // 23-30
    ]);
    expect(problems(text)).toEqual([
      "11: artifacts[1].path: k3s/k3s is listed twice (also artifacts[0])",
      "17: artifacts[2].path: manifest.json is reserved for the bundle itself",
      "21: artifacts[2].arch: arm64 is not one of the lock's architectures (amd64)",
      "23: artifacts[3].path: k3s/k3s/inner lies under k3s/k3s, which is a file of the bundle",
      "29: artifacts[3].component: component applies to kind deb only",
      "30: artifacts[3].format: format applies to kind image-archive only",
    ]);
    expect(codeOf(text)).toBe("BUNDLE_LOCK_INVALID");
  });
});

describe("lock files on disk", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "groundcrew-lock-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("name the file in every problem", async () => {
    const file = path.join(dir, "bad.lock.yaml");
    await writeFile(file, "name: edge\narch: [amd64]\nartifacts: 3\n");
    await expect(loadLock(file)).rejects.toThrow(`${file}:3: artifacts: Expected array, received string`);
  });
});
