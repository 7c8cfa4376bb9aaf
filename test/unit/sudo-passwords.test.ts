import { describe, expect, it } from "vitest";
import { Secret } from "../../shared/secret.js";
import { parseInventory } from "../../server/inventory/load.js";
import { resolveSudoPasswords } from "../../server/orchestrate/sudo-passwords.js";

const deps = { fileExists: () => true, homeDir: "/home/me", env: {} };

function inventory(sudo: string): ReturnType<typeof parseInventory> {
  const text = [
    "defaults:",
    "  user: ops",
    `  sudo: ${sudo}`,
    "hosts:",
    "  - { name: a, address: 10.0.0.1, role: server }",
    "  - { name: b, address: 10.0.0.2 }",
    "  - { name: c, address: 10.0.0.3, user: root }",
  ].join("\n");
  return parseInventory(text, "/inv.yaml", deps);
}

describe("sudo passwords", () => {
  it("needs none for passwordless sudo or root logins", async () => {
    expect((await resolveSudoPasswords(inventory("passwordless"), {}, undefined)).size).toBe(0);
  });

  it("takes the password from the named environment variable", async () => {
    const passwords = await resolveSudoPasswords(
      inventory("{ passwordEnv: OPS_SUDO }"),
      { OPS_SUDO: "s3cret" },
      undefined,
    );
    expect([...passwords.keys()]).toEqual(["a", "b"]);
    expect(passwords.get("a")?.reveal()).toBe("s3cret");
  });

  it("asks once per SSH user on the terminal, before touching any host", async () => {
    const questions: string[] = [];
    const passwords = await resolveSudoPasswords(inventory("{ prompt: true }"), {}, (question) => {
      questions.push(question);
      return Promise.resolve(new Secret("typed"));
    });
    expect(questions).toEqual(["sudo password for ops (a): "]);
    expect(passwords.get("b")?.reveal()).toBe("typed");
  });

  it("fails naming the host and the variable when no password can be had", async () => {
    await expect(resolveSudoPasswords(inventory("{ passwordEnv: OPS_SUDO }"), {}, undefined)).rejects.toThrow(
      "a: sudo needs a password: set OPS_SUDO",
    );
    await expect(resolveSudoPasswords(inventory("{ prompt: true }"), {}, undefined)).rejects.toThrow(
      /no terminal to ask on/,
    );
  });
});
