import { describe, expect, it } from "vitest";
import { Secret } from "../../shared/secret.js";
import { withSudo, withSudoPassword } from "../../shared/with-sudo.js";
import { fakeExec } from "../fakes/fake-exec.js";

const PASSWORD = new Secret("correct horse battery");

describe("withSudo", () => {
  it("runs every command through sudo -n, input untouched", async () => {
    const exec = fakeExec({ "sudo -n -- cat": (_argv, options) => ({ stdout: options?.input ?? "" }) });
    expect((await withSudo(exec).run(["cat"], { input: "data" })).stdout).toBe("data");
  });
});

describe("withSudoPassword: the password reaches sudo, never the command", () => {
  it("an account whose sudo asks: -k (no cached credentials), the password first on stdin, then the input", async () => {
    const exec = fakeExec({
      "sudo -n -- true": { code: 1, stderr: "sudo: a password is required\n" },
      "sudo -k -S -p  -- install -m 0600 /dev/stdin /etc/x": (_argv, options) => ({
        stdout: options?.input ?? "",
      }),
    });
    const root = withSudoPassword(exec, PASSWORD);
    const result = await root.run(["install", "-m", "0600", "/dev/stdin", "/etc/x"], { input: "token\n" });
    expect(result.stdout).toBe("correct horse battery\ntoken\n");
    await root.run(["install", "-m", "0600", "/dev/stdin", "/etc/x"], { input: "token\n" });
    expect(exec.commandLines().filter((line) => line === "sudo -n -- true")).toHaveLength(1);
  });

  it("an account that needs no password after all (NOPASSWD): sudo -n, and the password is never written", async () => {
    const exec = fakeExec({
      "sudo -n -- true": {},
      "sudo -n -- install -m 0600 /dev/stdin /etc/x": (_argv, options) => ({ stdout: options?.input ?? "" }),
    });
    const result = await withSudoPassword(exec, PASSWORD).run(
      ["install", "-m", "0600", "/dev/stdin", "/etc/x"],
      {
        input: "token\n",
      },
    );
    expect(result.stdout).toBe("token\n");
    expect(exec.calls.some((call) => (call.options?.input ?? "").includes(PASSWORD.reveal()))).toBe(false);
  });
});
