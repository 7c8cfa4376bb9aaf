import { describe, expect, it } from "vitest";
import { localExec, TIMEOUT_EXIT_CODE } from "../../agent/host/local-exec.js";

describe("localExec edge cases", () => {
  it("echoes through /bin/echo and reads stdin through /bin/cat, UTF-8 intact", async () => {
    expect(await localExec.run(["/bin/echo", "größe", "✓"])).toEqual({
      code: 0,
      stdout: "größe ✓\n",
      stderr: "",
    });
    const big = "ä".repeat(200_000);
    const result = await localExec.run(["/bin/cat"], { input: big });
    expect(result.stdout).toBe(big);
  });

  it("does not hang or fail when the child ignores its input", async () => {
    const result = await localExec.run(["/bin/sh", "-c", "exit 0"], { input: "x".repeat(1 << 20) });
    expect(result.code).toBe(0);
  });

  it("reports a non-zero exit as a result, not an error", async () => {
    await expect(localExec.run(["/bin/sh", "-c", "exit 3"])).resolves.toEqual({
      code: 3,
      stdout: "",
      stderr: "",
    });
  });

  it("merges env over the inherited environment", async () => {
    const result = await localExec.run(["/bin/sh", "-c", 'printf "%s|%s" "$GC_TEST" "${PATH:+has-path}"'], {
      env: { GC_TEST: "set" },
    });
    expect(result.stdout).toBe("set|has-path");
  });

  it("times out with 124, keeps output so far, and does not wait for a grandchild holding the pipes", async () => {
    const started = Date.now();
    const result = await localExec.run(["/bin/sh", "-c", "echo started; sleep 3; echo never"], {
      timeoutMs: 300,
    });
    expect(result).toEqual({ code: TIMEOUT_EXIT_CODE, stdout: "started\n", stderr: "" });
    expect(TIMEOUT_EXIT_CODE).toBe(124);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("leaves a command that finishes in time alone", async () => {
    expect(await localExec.run(["/bin/echo", "quick"], { timeoutMs: 5000 })).toEqual({
      code: 0,
      stdout: "quick\n",
      stderr: "",
    });
  });

  it("gives 128 + signal number for a signal death", async () => {
    expect((await localExec.run(["/bin/sh", "-c", "kill -KILL $$"])).code).toBe(128 + 9);
  });

  it("rejects when the program cannot be started", async () => {
    await expect(localExec.run(["/definitely/not/here"])).rejects.toMatchObject({ code: "ENOENT" });
    await expect(localExec.run(["/etc"])).rejects.toMatchObject({ code: "EACCES" });
  });
});
