import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { VERSION } from "../../shared/version.js";
import { parseMachineCount } from "../../server/cli/io.js";
import { createProgram } from "../../server/cli/program.js";

function capture(): {
  io: { out: (text: string) => void; progress: (message: string) => void };
  text: () => string;
} {
  let output = "";
  return {
    io: {
      out: (text) => {
        output += text;
      },
      progress: () => undefined,
    },
    text: () => output,
  };
}

describe("groundcrew CLI", () => {
  it("knows its own version, the same as package.json", async () => {
    const manifest = z
      .object({ version: z.string() })
      .parse(JSON.parse(await readFile("package.json", "utf8")));
    expect(VERSION).toBe(manifest.version);
    const { io, text } = capture();
    const program = createProgram(io).exitOverride();
    expect(() => program.parse(["node", "groundcrew", "--version"])).toThrow(VERSION);
    expect(text()).toBe(`${VERSION}\n`);
  });

  it("lists its commands in --help", () => {
    const { io, text } = capture();
    const program = createProgram(io).exitOverride();
    expect(() => program.parse(["node", "groundcrew", "--help"])).toThrow();
    expect(text()).toMatch(/Usage: groundcrew/);
    expect(text()).toMatch(/demo/);
    expect(text()).toMatch(/lab/);
  });

  it("pki: revoke refuses an invalid or unknown host name; neither command creates a PKI where there is none", async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), "gc-cli-pki-"));
    vi.stubEnv("GROUNDCREW_STATE_DIR", stateDir);
    try {
      const parse = async (...args: string[]): Promise<{ text: string; error: unknown }> => {
        const { io, text } = capture();
        const program = createProgram(io)
          .exitOverride()
          .configureOutput({ writeErr: () => undefined });
        const error: unknown = await program.parseAsync(["node", "groundcrew", ...args]).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        return { text: text(), error };
      };
      expect((await parse("pki", "revoke", "bad name!")).error).toMatchObject({ code: "PKI_NAME_INVALID" });
      const unknown = await parse("pki", "revoke", "node-1");
      expect(unknown.error).toMatchObject({ code: "PKI_HOST_UNKNOWN" });
      expect((unknown.error as Error).message).toBe(
        `no certificate was issued to node-1: ${stateDir} has no PKI yet`,
      );
      expect(await parse("pki", "list")).toEqual({
        text: `no host certificates issued from ${stateDir}\n`,
        error: undefined,
      });
      expect(await readdir(stateDir)).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it("validates machine counts", () => {
    expect(parseMachineCount("3")).toBe(3);
    for (const bad of ["0", "33", "-1", "2.5", "three", ""]) {
      expect(() => parseMachineCount(bad), bad).toThrow(/whole number of machines from 1 to 32/);
    }
  });
});
