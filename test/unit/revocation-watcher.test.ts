import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { GroundcrewError } from "../../shared/errors.js";
import { Pki } from "../../server/pki/pki.js";
import { RevocationWatcher } from "../../server/pki/revocation-watcher.js";
import { waitFor } from "../fixtures/tls/harness.js";

/**
 * The provisioner's Pki and a second one on the same state directory, as
 * `groundcrew pki revoke` opens it in its own process; the watcher must make
 * the first see what the second revoked, and say which hosts, once.
 */
describe("RevocationWatcher", { timeout: 20_000 }, () => {
  let stateDir: string;
  const watchers: RevocationWatcher[] = [];

  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), "gc-revwatch-"));
  });
  afterEach(async () => {
    for (const watcher of watchers.splice(0)) await watcher.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  async function watched(options: { fsWatch: boolean; pollMs: number }) {
    const provisioner = await Pki.open(stateDir);
    const nodeA = await provisioner.issueHostCert("node-a");
    const nodeB = await provisioner.issueHostCert("node-b");
    const seen: { host: string; serials: readonly string[] }[] = [];
    const errors: GroundcrewError[] = [];
    const watcher = await RevocationWatcher.start({
      pki: provisioner,
      ...options,
      onRevoked: (host, serials) => seen.push({ host, serials }),
      onError: (error) => errors.push(error),
    });
    watchers.push(watcher);
    return { provisioner, nodeA, nodeB, seen, errors, watcher };
  }

  for (const fsWatch of [true, false]) {
    it(`${fsWatch ? "with fs.watch" : "polling only"}: reports another process's revocation once, and the serial is refused from then on`, async () => {
      // With fs.watch the poll is too slow to be what notices the change.
      const { provisioner, nodeA, nodeB, seen, errors, watcher } = await watched({
        fsWatch,
        pollMs: fsWatch ? 60_000 : 50,
      });
      expect(watcher.watching).toBe(fsWatch);
      expect(seen).toEqual([]);
      await (await Pki.open(stateDir)).revoke("node-a");
      await waitFor(() => seen.length > 0, 5000, "the revocation to be noticed");
      expect(seen).toEqual([{ host: "node-a", serials: [nodeA.serial] }]);
      expect(provisioner.isRevoked(nodeA.serial)).toBe(true);
      expect(provisioner.isRevoked(nodeB.serial)).toBe(false);

      await (await Pki.open(stateDir)).revoke("node-b");
      await waitFor(() => seen.length > 1, 5000, "the second revocation to be noticed");
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(seen).toEqual([
        { host: "node-a", serials: [nodeA.serial] },
        { host: "node-b", serials: [nodeB.serial] },
      ]);
      expect(errors).toEqual([]);
    });
  }

  it("finds at start what was revoked after the provisioner opened its Pki", async () => {
    const provisioner = await Pki.open(stateDir);
    const nodeA = await provisioner.issueHostCert("node-a");
    await (await Pki.open(stateDir)).revoke("node-a");
    const seen: string[] = [];
    watchers.push(
      await RevocationWatcher.start({
        pki: provisioner,
        fsWatch: false,
        pollMs: 60_000,
        onRevoked: (host) => seen.push(host),
      }),
    );
    expect(seen).toEqual(["node-a"]);
    expect(provisioner.isRevoked(nodeA.serial)).toBe(true);
  });

  it("reports a damaged list once, forgets nothing, and carries on when it is whole again", async () => {
    const { provisioner, nodeA, nodeB, seen, errors } = await watched({ fsWatch: false, pollMs: 30 });
    await (await Pki.open(stateDir)).revoke("node-a");
    await waitFor(() => seen.length === 1);
    const file = path.join(stateDir, "pki", "revoked.json");
    await writeFile(file, "{");
    await waitFor(() => errors.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(errors.map((error) => error.code)).toEqual(["PKI_STATE_INVALID"]);
    expect(provisioner.isRevoked(nodeA.serial)).toBe(true);

    await rm(file);
    await (await Pki.open(stateDir)).revoke("node-b");
    await waitFor(() => seen.length === 2);
    expect(seen[1]).toEqual({ host: "node-b", serials: [nodeB.serial] });
    expect(provisioner.isRevoked(nodeA.serial)).toBe(true);
  });

  it("reports nothing after close", async () => {
    const { seen, watcher } = await watched({ fsWatch: true, pollMs: 20 });
    await watcher.close();
    await (await Pki.open(stateDir)).revoke("node-a");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).toEqual([]);
  });
});
