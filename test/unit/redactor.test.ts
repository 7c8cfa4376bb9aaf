import { generateKeyPairSync } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { REDACTED, Redactor } from "../../shared/redactor.js";
import { Secret } from "../../shared/secret.js";
import { fuzzParams } from "../support/fuzz.js";

const TOKEN = "K10b5c2e7f1a9d3::server:9f2c7e1d4b8a";

describe("Redactor", () => {
  it("replaces every occurrence of a secret, and leaves other text alone", () => {
    const redactor = new Redactor([new Secret(TOKEN)]);
    expect(redactor.redact(`k3s --token ${TOKEN} failed; token=${TOKEN}`)).toBe(
      `k3s --token ${REDACTED} failed; token=${REDACTED}`,
    );
    expect(redactor.redact("nothing secret here")).toBe("nothing secret here");
  });

  it("finds a secret base64-encoded at any offset, standard or url-safe", () => {
    const redactor = new Redactor([new Secret(TOKEN)]);
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), (before, after) => {
        const bytes = Buffer.from(`${before}${TOKEN}${after}`);
        for (const encoded of [bytes.toString("base64"), bytes.toString("base64url")]) {
          expect(redactor.redact(`data: ${encoded}`)).toContain(REDACTED);
        }
      }),
      fuzzParams(200),
    );
  });

  it("finds the lines of a PEM key however its lines were joined", () => {
    const { privateKey } = generateKeyPairSync("ec", {
      namedCurve: "P-256",
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const redactor = new Redactor([new Secret(privateKey)]);
    const body = privateKey.split("\n").filter((line) => line !== "" && !line.startsWith("-----"));
    const joined = `journalctl: ${privateKey.trim().split("\n").join(" | ")}`;
    for (const line of body.filter((text) => text.length >= 16))
      expect(redactor.redact(joined)).not.toContain(line);
    expect(redactor.redact(`cat key.pem:\n${privateKey}`)).not.toContain(body[0]);
  });

  it("takes secrets with regular-expression characters literally", () => {
    const secret = "a.b*c(d)[e]{f}+g?h|i^j$k\\l";
    const redactor = new Redactor([new Secret(secret)]);
    expect(redactor.redact(`x${secret}y axbxcxd`)).toBe(`x${REDACTED}y axbxcxd`);
  });

  it("ignores secrets too short to look for, and learns secrets as they are added", () => {
    const redactor = new Redactor([new Secret("abc")]);
    expect(redactor.redact("abcabc")).toBe("abcabc");
    redactor.add(new Secret("hunter22"));
    expect(redactor.redact("pw hunter22")).toBe(`pw ${REDACTED}`);
  });

  it("never leaves a whole secret behind, whatever surrounds it", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 6, maxLength: 40 }),
        fc.array(fc.string({ maxLength: 10 }), { maxLength: 4 }),
        (secret, around) => {
          const redactor = new Redactor([new Secret(secret)]);
          expect(redactor.redact(around.join(secret))).not.toContain(secret);
        },
      ),
      fuzzParams(300),
    );
  });
});
