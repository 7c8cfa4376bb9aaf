import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { Secret } from "../../shared/secret.js";

describe("Secret", () => {
  const secret = new Secret("hunter2");

  it("reveals its text only through reveal()", () => {
    expect(secret.reveal()).toBe("hunter2");
    expect(secret.equals(new Secret("hunter2"))).toBe(true);
    expect(secret.equals(new Secret("other"))).toBe(false);
  });

  // These tests misuse a Secret on purpose, in the ways careless code would.
  /* eslint-disable @typescript-eslint/restrict-template-expressions, @typescript-eslint/no-misused-spread */
  it("never leaks through JSON, strings, inspection or enumeration", () => {
    const holder = { token: secret, nested: { list: [secret] } };
    const renderings = [
      JSON.stringify(holder),
      String(secret),
      `${secret}`,
      secret.toString(),
      inspect(holder, { depth: 10, showHidden: true }),
      inspect(secret),
      String(Object.keys(secret)),
      JSON.stringify(Object.entries(secret)),
      JSON.stringify({ ...secret }),
      JSON.stringify(structuredClone({ ...secret })),
    ];
    for (const text of renderings) expect(text).not.toContain("hunter2");
    expect(JSON.stringify(holder)).toBe('{"token":"[redacted]","nested":{"list":["[redacted]"]}}');
    expect(String(secret)).toBe("[redacted]");
    expect(inspect(secret)).toBe("[redacted]");
  });

  it("stays redacted inside error messages", () => {
    const error = new Error(`bad token ${secret}`);
    expect(error.message).toBe("bad token [redacted]");
  });
  /* eslint-enable @typescript-eslint/restrict-template-expressions, @typescript-eslint/no-misused-spread */
});
