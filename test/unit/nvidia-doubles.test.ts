import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildHeadersDeb,
  buildNvidiaRunfile,
  buildToolkitDebs,
  NVIDIA_DRIVER_VERSION,
  NVIDIA_TOOLKIT_VERSION,
  RUNFILE_HOLD_MARKER,
  RUNFILE_HOLDING,
  RUNFILE_NAME,
} from "../support/nvidia-doubles.js";

const run = promisify(execFile);

async function field(deb: string, name: string): Promise<string> {
  return (await run("dpkg-deb", ["--field", deb, name])).stdout.trim();
}

async function contents(deb: string): Promise<string[]> {
  return (await run("dpkg-deb", ["--contents", deb])).stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.split(/\s+/).at(-1) ?? "");
}

describe("the NVIDIA test doubles' builders", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "nvidia-doubles-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("builds the four toolkit packages, one version, with upstream's dependencies", async () => {
    const debs = await buildToolkitDebs(dir);
    expect(debs.map((deb) => deb.name)).toEqual([
      "libnvidia-container1",
      "libnvidia-container-tools",
      "nvidia-container-toolkit-base",
      "nvidia-container-toolkit",
    ]);
    for (const deb of debs) {
      expect(await field(deb.file, "Package")).toBe(deb.name);
      expect(await field(deb.file, "Version")).toBe(NVIDIA_TOOLKIT_VERSION);
    }
    const [, tools, base, toolkit] = debs;
    expect(await field(toolkit?.file ?? "", "Depends")).toContain(
      `nvidia-container-toolkit-base (= ${NVIDIA_TOOLKIT_VERSION})`,
    );
    expect(await field(tools?.file ?? "", "Depends")).toContain("libnvidia-container1");
    expect(await contents(base?.file ?? "")).toEqual(
      expect.arrayContaining(["./usr/bin/nvidia-ctk", "./usr/bin/nvidia-container-runtime"]),
    );
    expect(await contents(tools?.file ?? "")).toContain("./usr/bin/nvidia-container-cli");
  });

  it("builds linux-headers-<release> holding /usr/src/linux-headers-<release>", async () => {
    const deb = await buildHeadersDeb(dir, "6.1.0-18-amd64");
    expect(await field(deb.file, "Package")).toBe("linux-headers-6.1.0-18-amd64");
    expect(await contents(deb.file)).toContain("./usr/src/linux-headers-6.1.0-18-amd64/Makefile");
  });

  it("the runfile refuses a flag it does not know before touching anything", async () => {
    const runfile = await buildNvidiaRunfile(dir);
    expect(path.basename(runfile)).toBe(RUNFILE_NAME);
    const result = await run("sh", [runfile, "--silent", "--bogus"]).then(
      () => ({ code: 0, stderr: "" }),
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Unrecognized option: '--bogus'");
  });

  it("the runfile has its version and hold marker filled in, and logs RUNFILE_HOLDING while held", async () => {
    const script = await readFile(await buildNvidiaRunfile(dir), "utf8");
    expect(script).not.toMatch(/@[A-Z_]+@/);
    expect(script).toContain(`VERSION="${NVIDIA_DRIVER_VERSION}"`);
    expect(script).toContain(`HOLD="${RUNFILE_HOLD_MARKER}"`);
    // The log line the runfile writes, with $HOLD as the shell expands it.
    expect(script).toContain(`echo "${RUNFILE_HOLDING.replace(RUNFILE_HOLD_MARKER, "$HOLD")}" >>"$LOG"`);
  });
});
