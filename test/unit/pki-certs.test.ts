import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import { Pki } from "../../server/pki/pki.js";

const DAY = 24 * 60 * 60 * 1000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

describe("Pki certificates", () => {
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

  it("creates a 10-year RSA CA once and keeps its key to itself", async () => {
    const pki = await Pki.open(stateDir, { now });
    const ca = await pki.ensureCa();
    const x509 = new X509Certificate(ca.certPem);
    expect(x509.ca).toBe(true);
    expect(x509.subject).toBe("CN=groundcrew CA");
    expect(x509.publicKey.asymmetricKeyType).toBe("rsa");
    expect(x509.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(new Date(x509.validTo).getTime() - clock.getTime()).toBe(3650 * DAY);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(Object.values(ca).join("\n")).not.toMatch(/PRIVATE KEY/);

    const again = await (await Pki.open(stateDir, { now })).ensureCa();
    expect(again.certPem).toBe(ca.certPem);
    expect(again.serial).toBe(ca.serial);
  });

  it("keeps the directory 0700 and every file 0600", async () => {
    const pki = await Pki.open(stateDir, { now });
    await pki.issueServerCert(["127.0.0.1"]);
    await pki.issueHostCert("node-1");
    await pki.revoke("node-1");
    const dir = path.join(stateDir, "pki");
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const names = await readdir(dir);
    expect(names.sort()).toEqual(
      [
        "ca-cert.pem",
        "ca-key.pem",
        "issued.json",
        "revoked.json",
        "server-cert.pem",
        "server-key.pem",
      ].sort(),
    );
    for (const name of names) expect((await stat(path.join(dir, name))).mode & 0o777).toBe(0o600);
  });

  it("issues a host certificate: CN=host, SAN <host>.groundcrew.internal, client and server auth, 7 days, random 16-byte serial, signed by the CA", async () => {
    const pki = await Pki.open(stateDir, { now });
    const ca = new X509Certificate((await pki.ensureCa()).certPem);
    const first = await pki.issueHostCert("gpu-01.lab");
    const second = await pki.issueHostCert("gpu-01.lab");
    const x509 = new X509Certificate(first.certPem);
    expect(x509.subject).toBe("CN=gpu-01.lab");
    expect(x509.ca).toBe(false);
    expect(x509.keyUsage).toEqual([CLIENT_AUTH, SERVER_AUTH]);
    expect(x509.subjectAltName).toBe("DNS:gpu-01.lab.groundcrew.internal");
    expect(x509.checkIssued(ca) && x509.verify(ca.publicKey)).toBe(true);
    expect(first.notAfter.getTime() - clock.getTime()).toBe(7 * DAY);
    expect(new Date(x509.validTo)).toEqual(first.notAfter);
    expect(new Date(x509.validFrom).getTime()).toBeLessThanOrEqual(clock.getTime());
    expect(first.serial).toMatch(/^[4-7][0-9a-f]{31}$/);
    expect(x509.serialNumber.toLowerCase()).toBe(first.serial);
    expect(second.serial).not.toBe(first.serial);
    expect(first.caPem).toBe(ca.toString());
    const key = createPrivateKey(first.keyPem);
    expect(x509.checkPrivateKey(key)).toBe(true);
    expect(second.keyPem).not.toBe(first.keyPem);
  });

  it("refuses host names a CN cannot carry as is", async () => {
    const pki = await Pki.open(stateDir, { now });
    for (const bad of ["", "a,b", "host name", "-x", "ünï", "a".repeat(254)]) {
      await expect(pki.issueHostCert(bad)).rejects.toSatisfy((e) => isGroundcrewError(e, "PKI_NAME_INVALID"));
    }
  });

  it("issues a server certificate with every SAN, serverAuth only, 30 days", async () => {
    const pki = await Pki.open(stateDir, { now });
    const cert = await pki.issueServerCert(["10.0.0.5", "Prov.LAN", "::1", "127.0.0.1"]);
    const x509 = new X509Certificate(cert.certPem);
    expect(cert.reused).toBe(false);
    expect(x509.keyUsage).toEqual([SERVER_AUTH]);
    expect(x509.checkHost("prov.lan")).toBe("prov.lan");
    expect(x509.checkIP("10.0.0.5")).toBe("10.0.0.5");
    expect(x509.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x509.checkIP("::1")).toBeDefined();
    expect(x509.checkIP("10.0.0.6")).toBeUndefined();
    expect(cert.sans).toEqual(["10.0.0.5", "prov.lan", "::1", "127.0.0.1"]);
    expect(cert.notAfter.getTime() - clock.getTime()).toBe(30 * DAY);
    expect(x509.checkPrivateKey(createPrivateKey(cert.keyPem))).toBe(true);
    await expect(pki.issueServerCert([])).rejects.toSatisfy((e) => isGroundcrewError(e, "PKI_NAME_INVALID"));
    await expect(pki.issueServerCert(["not an address"])).rejects.toSatisfy((e) =>
      isGroundcrewError(e, "PKI_NAME_INVALID"),
    );
  });

  it("reuses the server certificate while it covers the SANs and has more than 7 days left", async () => {
    const pki = await Pki.open(stateDir, { now });
    const first = await pki.issueServerCert(["10.0.0.5", "prov.lan"]);

    clock = new Date(clock.getTime() + 22 * DAY);
    const subset = await (await Pki.open(stateDir, { now })).issueServerCert(["PROV.lan"]);
    expect(subset.reused).toBe(true);
    expect(subset.certPem).toBe(first.certPem);
    expect(subset.keyPem).toBe(first.keyPem);

    const wider = await pki.issueServerCert(["10.0.0.5", "10.0.0.9"]);
    expect(wider.reused).toBe(false);
    expect(wider.serial).not.toBe(first.serial);

    clock = new Date(clock.getTime() + 23 * DAY + 1000);
    const renewed = await pki.issueServerCert(["10.0.0.5", "10.0.0.9"]);
    expect(renewed.reused).toBe(false);
    expect(renewed.notAfter.getTime() - clock.getTime()).toBeGreaterThan(29 * DAY);
  });

  it("compares SANs canonically (IPv6 spellings, DNS case, duplicates)", async () => {
    const pki = await Pki.open(stateDir, { now });
    const first = await pki.issueServerCert(["fd00::10", "Prov.lan", "prov.LAN."]);
    expect(first.sans).toEqual(["fd00::10", "prov.lan"]);
    const again = await pki.issueServerCert(["FD00:0:0:0:0:0:0:10", "prov.lan"]);
    expect(again.reused).toBe(true);
    expect([...again.sans].sort()).toEqual(["fd00::10", "prov.lan"]);
  });

  it("replaces a server certificate that another CA signed or whose key was swapped", async () => {
    const pki = await Pki.open(stateDir, { now });
    const first = await pki.issueServerCert(["127.0.0.1"]);
    const other = await mkdtemp(path.join(tmpdir(), "gc-pki-other-"));
    try {
      const foreign = await (await Pki.open(other, { now })).issueServerCert(["127.0.0.1"]);
      await writeFile(path.join(stateDir, "pki", "server-cert.pem"), foreign.certPem);
      await writeFile(path.join(stateDir, "pki", "server-key.pem"), foreign.keyPem);
      expect((await pki.issueServerCert(["127.0.0.1"])).reused).toBe(false);

      await writeFile(path.join(stateDir, "pki", "server-key.pem"), first.keyPem);
      expect((await pki.issueServerCert(["127.0.0.1"])).reused).toBe(false);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("refuses a half-present or mismatched CA instead of overwriting it", async () => {
    const pki = await Pki.open(stateDir, { now });
    await pki.ensureCa();
    const keyFile = path.join(stateDir, "pki", "ca-key.pem");
    const { keyPem } = await pki.issueHostCert("node-1");
    await writeFile(keyFile, keyPem);
    await expect((await Pki.open(stateDir, { now })).ensureCa()).rejects.toSatisfy((e) =>
      isGroundcrewError(e, "PKI_STATE_INVALID"),
    );
    await rm(keyFile);
    await expect((await Pki.open(stateDir, { now })).issueHostCert("node-1")).rejects.toSatisfy((e) =>
      isGroundcrewError(e, "PKI_STATE_INVALID"),
    );
  });

  it("never issues a leaf that outlives the CA", async () => {
    const pki = await Pki.open(stateDir, { now });
    const ca = await pki.ensureCa();
    clock = new Date(ca.notAfter.getTime() - 3 * DAY);
    const host = await pki.issueHostCert("node-1");
    expect(host.notAfter.getTime()).toBe(ca.notAfter.getTime());
  });
});
