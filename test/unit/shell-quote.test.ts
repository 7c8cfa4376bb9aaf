import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { shellQuote } from "../../server/ssh/shell-quote.js";

const run = promisify(execFile);

describe("shellQuote", () => {
  it("leaves plain words bare", () => {
    expect(shellQuote(["sha256sum", "--", "/home/ops/.cache/a-b_c.1"])).toBe(
      "sha256sum -- /home/ops/.cache/a-b_c.1",
    );
  });

  it("passes hostile arguments to the shell as single words, unchanged", async () => {
    const hostile = ["it's", "$(touch /tmp/pwned)", "a b", "`id`", "; rm -rf /", "", "\n", "'\"\\", "*", "~"];
    const { stdout } = await run("/bin/sh", ["-c", `printf '%s\\0' ${shellQuote(hostile)}`]);
    expect(stdout.split("\0").slice(0, -1)).toEqual(hostile);
  });
});
