import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
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

  it("validates machine counts", () => {
    expect(parseMachineCount("3")).toBe(3);
    for (const bad of ["0", "33", "-1", "2.5", "three", ""]) {
      expect(() => parseMachineCount(bad), bad).toThrow(/whole number of machines from 1 to 32/);
    }
  });
});
