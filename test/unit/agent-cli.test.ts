import { describe, expect, it } from "vitest";
import { main, type AgentCliDeps } from "../../agent/cli.js";
import { hostFactsSchema } from "../../shared/facts.js";
import { VERSION } from "../../shared/version.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { fakeGpuServer } from "../fakes/fake-host.js";

function harness(host: Pick<AgentCliDeps, "exec" | "fs"> = fakeGpuServer()): {
  deps: AgentCliDeps;
  out: () => string;
  err: () => string;
} {
  let out = "";
  let err = "";
  return {
    deps: {
      ...host,
      stdout: (text) => {
        out += text;
      },
      stderr: (text) => {
        err += text;
      },
      now: () => new Date("2026-11-21T12:00:00.000Z"),
    },
    out: () => out,
    err: () => err,
  };
}

/** argv as process.argv has it in a Node SEA: the executable twice, then the arguments. */
const argv = (...args: string[]): string[] => ["/opt/groundcrew-agent", "/opt/groundcrew-agent", ...args];

describe("groundcrew-agent CLI", () => {
  it("prints its version", async () => {
    const { deps, out, err } = harness();
    expect(await main(argv("--version"), deps)).toBe(0);
    expect(out()).toBe(`${VERSION}\n`);
    expect(err()).toBe("");
  });

  it("prints the facts as indented JSON that the server's schema accepts", async () => {
    const { deps, out, err } = harness();
    expect(await main(argv("facts"), deps)).toBe(0);
    expect(err()).toBe("");
    expect(out().endsWith("}\n")).toBe(true);
    expect(out()).toMatch(/^\{\n {2}"schema": 1,\n/);
    const facts = hostFactsSchema.parse(JSON.parse(out()));
    expect(facts).toMatchObject({ hostname: "gpu-worker-1", collectedAt: "2026-11-21T12:00:00.000Z" });
  });

  it("prints a failing fact's message prefixed with its name, and exits 1", async () => {
    const { fs } = fakeGpuServer();
    const exec = fakeExec({ "uname -m": { stdout: "x86_64\n" } });
    const { deps, out, err } = harness({ fs, exec });
    expect(await main(argv("facts"), deps)).toBe(1);
    expect(out()).toBe("");
    expect(err()).toBe("groundcrew-agent: `ip -j address show` exited with 127: not found\n");
  });

  it("refuses an unknown command in the same voice", async () => {
    const { deps, out, err } = harness();
    expect(await main(argv("bogus"), deps)).toBe(1);
    expect(out()).toBe("");
    expect(err()).toMatch(/^groundcrew-agent: unknown command 'bogus'/);
  });

  it("lists the facts command in --help", async () => {
    const { deps, out } = harness();
    expect(await main(argv("--help"), deps)).toBe(0);
    expect(out()).toMatch(/Usage: groundcrew-agent/);
    expect(out()).toMatch(/facts\s+print this host's facts as JSON/);
  });
});
