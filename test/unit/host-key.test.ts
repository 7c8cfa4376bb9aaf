import { describe, expect, it } from "vitest";
import { utils } from "ssh2";
import { fingerprint, keyBlobFromLine, pinnedKeys } from "../../server/ssh/host-key.js";

describe("SSH host keys", () => {
  const pair = utils.generateKeyPairSync("ed25519");
  const other = utils.generateKeyPairSync("ed25519");

  it("reads the key blob of a public key line and fingerprints it like OpenSSH", () => {
    const blob = keyBlobFromLine(pair.public);
    const parsed = utils.parseKey(pair.public);
    if (parsed instanceof Error) throw parsed;
    expect(blob.equals(parsed.getPublicSSH())).toBe(true);
    expect(fingerprint(blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it("rejects lines that are not public keys, or whose type lies", () => {
    expect(() => keyBlobFromLine("not a key")).toThrow(/not an OpenSSH public key line/);
    const [, base64] = pair.public.split(" ");
    expect(() => keyBlobFromLine(`ssh-rsa ${base64}`)).toThrow(/says ssh-rsa/);
  });

  it("accepts only pinned keys", () => {
    const policy = pinnedKeys([keyBlobFromLine(pair.public)]);
    expect(policy.accepts(keyBlobFromLine(pair.public))).toBe(true);
    expect(policy.accepts(keyBlobFromLine(other.public))).toBe(false);
    expect(pinnedKeys([]).accepts(keyBlobFromLine(pair.public))).toBe(false);
  });
});
