import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import { Pki } from "../../server/pki/pki.js";
import { normalizeSerial, randomSerial } from "../../server/pki/serial.js";

const DAY = 24 * 60 * 60 * 1000;

describe("Pki revocation", () => {
  let stateDir: string;
  let clock: Date;
  const now = () => clock;

  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), "gc-pki-"));
    clock = new Date("2030-01-15T12:00:00.000Z");
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it("revokes every current serial of a host, persists it, and leaves other hosts alone", async () => {
    const pki = await Pki.open(stateDir, { now });
    const a1 = await pki.issueHostCert("node-a");
    const a2 = await pki.issueHostCert("node-a");
    const b = await pki.issueHostCert("node-b");

    const revoked = await pki.revoke("node-a");
    expect(revoked.sort()).toEqual([a1.serial, a2.serial].sort());
    expect(pki.isRevoked(a1.serial)).toBe(true);
    expect(pki.isRevoked(a2.serial.toUpperCase())).toBe(true);
    expect(pki.isRevoked(b.serial)).toBe(false);

    const reopened = await Pki.open(stateDir, { now });
    expect(reopened.isRevoked(a1.serial)).toBe(true);
    expect(reopened.isRevoked(`00${a2.serial.toUpperCase()}`)).toBe(true);
    expect(reopened.isRevoked(b.serial)).toBe(false);
    expect(await reopened.revoke("node-a")).toEqual([]);

    const fresh = await reopened.issueHostCert("node-a");
    expect(reopened.isRevoked(fresh.serial)).toBe(false);
  });

  it("records no secret in its registry files", async () => {
    const pki = await Pki.open(stateDir, { now });
    await pki.issueHostCert("node-a");
    await pki.revoke("node-a");
    for (const name of ["issued.json", "revoked.json"]) {
      expect(await readFile(path.join(stateDir, "pki", name), "utf8")).not.toMatch(/PRIVATE|BEGIN/);
    }
  });

  it("drops entries of expired certificates (TLS refuses those anyway)", async () => {
    const pki = await Pki.open(stateDir, { now });
    const old = await pki.issueHostCert("node-a");
    await pki.revoke("node-a");
    clock = new Date(clock.getTime() + 8 * DAY);
    await pki.issueHostCert("node-b");
    await pki.revoke("node-b");
    expect(pki.isRevoked(old.serial)).toBe(false);
    const file = await readFile(path.join(stateDir, "pki", "revoked.json"), "utf8");
    expect(file).not.toContain(old.serial);
  });

  it("refuses a damaged revocation list rather than forgetting revocations", async () => {
    await (await Pki.open(stateDir, { now })).ensureCa();
    await writeFile(path.join(stateDir, "pki", "revoked.json"), '{"version":1,"revoked":[{"serial":"zz"}]}');
    await expect(Pki.open(stateDir, { now })).rejects.toSatisfy((e) =>
      isGroundcrewError(e, "PKI_STATE_INVALID"),
    );
    await writeFile(path.join(stateDir, "pki", "revoked.json"), "{");
    await expect(Pki.open(stateDir, { now })).rejects.toSatisfy((e) =>
      isGroundcrewError(e, "PKI_STATE_INVALID"),
    );
  });

  it("refuses to revoke a host it never issued to, naming it and the known hosts, and writes nothing", async () => {
    const pki = await Pki.open(stateDir, { now });
    await pki.issueHostCert("node-a");
    const before = await readdir(path.join(stateDir, "pki"));
    const error = await pki.revoke("node-x").then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isGroundcrewError(error, "PKI_HOST_UNKNOWN")).toBe(true);
    expect((error as Error).message).toMatch(/no certificate was issued to node-x .*\(hosts: node-a\)/);
    expect(await readdir(path.join(stateDir, "pki"))).toEqual(before);
    expect(before).not.toContain("revoked.json");
  });

  it("keeps what another process revoked: revoking reads revoked.json afresh under its lock", async () => {
    const first = await Pki.open(stateDir, { now });
    const a = await first.issueHostCert("node-a");
    const b = await first.issueHostCert("node-b");
    const c = await first.issueHostCert("node-c");
    // Three processes' views, opened before any revocation, revoking at the same time.
    const views = await Promise.all([0, 1, 2].map(() => Pki.open(stateDir, { now })));
    await Promise.all([views[0]!.revoke("node-a"), views[1]!.revoke("node-b"), views[2]!.revoke("node-c")]);
    const reopened = await Pki.open(stateDir, { now });
    for (const cert of [a, b, c]) expect(reopened.isRevoked(cert.serial), cert.host).toBe(true);
    expect(await readdir(path.join(stateDir, "pki"))).not.toContain("registry.lock");
    // Revoking leaves issued.json to the provisioner that issues.
    expect(await readFile(path.join(stateDir, "pki", "issued.json"), "utf8")).toContain(a.serial);
  });

  it("reloadRevoked adds what another process revoked, and reports each revocation once", async () => {
    const provisioner = await Pki.open(stateDir, { now });
    const a = await provisioner.issueHostCert("node-a");
    const b = await provisioner.issueHostCert("node-b");
    expect(await provisioner.reloadRevoked()).toEqual([]);
    await (await Pki.open(stateDir, { now })).revoke("node-a");
    expect(provisioner.isRevoked(a.serial)).toBe(false);
    expect(await provisioner.reloadRevoked()).toEqual([{ host: "node-a", serial: a.serial }]);
    expect(provisioner.isRevoked(a.serial)).toBe(true);
    expect(provisioner.isRevoked(b.serial)).toBe(false);
    expect(await provisioner.reloadRevoked()).toEqual([]);
    // A damaged file is refused, and what was revoked stays revoked.
    await writeFile(path.join(stateDir, "pki", "revoked.json"), "{");
    await expect(provisioner.reloadRevoked()).rejects.toSatisfy((e) =>
      isGroundcrewError(e, "PKI_STATE_INVALID"),
    );
    expect(provisioner.isRevoked(a.serial)).toBe(true);
  });

  it("lists every remembered certificate with host, serial, expiry and revocation time", async () => {
    const pki = await Pki.open(stateDir, { now });
    const a = await pki.issueHostCert("node-a");
    const b = await pki.issueHostCert("node-b");
    await pki.revoke("node-a");
    expect(await pki.certificates()).toEqual([
      { host: "node-a", serial: a.serial, notAfter: a.notAfter, revokedAt: clock },
      { host: "node-b", serial: b.serial, notAfter: b.notAfter },
    ]);
    expect(a.notAfter.getTime() - clock.getTime()).toBe(7 * DAY);
  });

  it("says a host's certificate is due with none, when revoked, and within 2 days of expiry", async () => {
    const pki = await Pki.open(stateDir, { now });
    expect(await pki.hostCertDue("node-a")).toBe(true);
    await pki.issueHostCert("node-a");
    expect(await pki.hostCertDue("node-a")).toBe(false);
    clock = new Date(clock.getTime() + 5 * DAY - 1000);
    expect(await pki.hostCertDue("node-a")).toBe(false);
    clock = new Date(clock.getTime() + 1000);
    expect(await pki.hostCertDue("node-a")).toBe(true);
    await pki.issueHostCert("node-a");
    expect(await pki.hostCertDue("node-a")).toBe(false);
    await pki.revoke("node-a");
    expect(await pki.hostCertDue("node-a")).toBe(true);
  });

  it("serials are positive 16-byte integers in one canonical spelling", () => {
    for (let i = 0; i < 200; i++) {
      const serial = randomSerial();
      expect(serial).toMatch(/^[4-7][0-9a-f]{31}$/);
      expect(normalizeSerial(serial.toUpperCase())).toBe(serial);
    }
    expect(normalizeSerial("00:0A:ff")).toBe("aff");
    expect(normalizeSerial("xyz")).toBe("");
  });
});
