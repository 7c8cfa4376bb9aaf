import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { VERSION } from "../../shared/version.js";
import { agentFileName } from "../../server/agent-binary.js";
import { hashFile } from "../../server/ssh/push-agent.js";

const run = promisify(execFile);

describe("the agent executable", () => {
  const built = path.resolve("dist", agentFileName());

  it("is reproducible: a second build from the same inputs has the same sha256", async () => {
    const out = await mkdtemp(path.join(tmpdir(), "groundcrew-agent-build-"));
    try {
      const { stdout } = await run(process.execPath, ["scripts/build-agent.mjs", "--out", out], {
        maxBuffer: 1 << 20,
      });
      const rebuilt = path.join(out, agentFileName());
      const digest = await hashFile(rebuilt);
      expect(stdout).toContain(`sha256: ${digest}`);
      expect(digest).toBe(await hashFile(built));
      expect((await readFile(`${built}.sha256`, "utf8")).split(" ")[0]).toBe(digest);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it("runs on its own, prints its version and no runtime warning", async () => {
    const { stdout, stderr } = await run(built, ["--version"], { env: { PATH: "/usr/bin:/bin" } });
    expect(stdout.trim()).toBe(VERSION);
    expect(stderr).toBe("");
  });
});
