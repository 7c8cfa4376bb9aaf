import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseInventory } from "../../server/inventory/load.js";
import { journalPath, up } from "../../server/orchestrate/up.js";
import { KnownHosts } from "../../server/ssh/known-hosts.js";

const mode = async (file: string): Promise<number> => (await stat(file)).mode & 0o777;

/** Runs `work` under umask 000, so any mode that comes out tight is the code's doing. */
async function underUmaskZero<T>(work: () => Promise<T>): Promise<T> {
  const previous = process.umask(0);
  try {
    return await work();
  } finally {
    process.umask(previous);
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/**
 * The state directory as `up` and `check` create it, through their own code
 * paths (Journal.open, KnownHosts.pin), with no help from the umask. The
 * PKI's modes are in ca-key-stays.test.ts and pki-certs.test.ts, the
 * journal's -wal, -shm and lock files in journal-open.test.ts.
 */
describe("state directory modes", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "gc-state-modes-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("up, stopped by a host it cannot reach, has made the state directory 0700 and its journal 0600", async () => {
    const stateDir = path.join(dir, "a", "state");
    const text = [
      "hosts:",
      `  - {name: n1, address: 127.0.0.1, port: ${await closedPort()}, user: ops, key: ${path.join(dir, "id")}, role: server}`,
    ].join("\n");
    const inventory = parseInventory(text, path.join(dir, "fleet.yaml"), {
      fileExists: () => true,
      homeDir: dir,
      env: {},
    });
    const result = await underUmaskZero(async () =>
      up({
        inventory,
        stateDir,
        agent: { path: path.join(dir, "agent"), sha256: "0".repeat(64) },
        knownHosts: await KnownHosts.open(stateDir),
        acceptNewHostKeys: false,
        concurrency: 1,
        port: 0,
        hostGraceMs: 1000,
        reporter: {
          phase: () => undefined,
          event: () => undefined,
          transfer: () => undefined,
          note: () => undefined,
        },
      }),
    );
    expect(result.kind).toBe("checks-failed");
    expect(await mode(path.join(dir, "a"))).toBe(0o700);
    expect(await mode(stateDir)).toBe(0o700);
    expect(await mode(journalPath(stateDir))).toBe(0o600);
    expect(await readdir(stateDir)).toEqual(["journal.db"]);
  });

  it("check's first pin makes the state directory 0700 and known_hosts.json 0600", async () => {
    const stateDir = path.join(dir, "b", "state");
    await underUmaskZero(async () => {
      const knownHosts = await KnownHosts.open(stateDir);
      await knownHosts.pin("10.0.0.1", 22, [Buffer.from("a host key blob")]);
      await knownHosts.pin("10.0.0.2", 22, [Buffer.from("another host key blob")]);
    });
    expect(await mode(stateDir)).toBe(0o700);
    expect(await mode(path.join(stateDir, "known_hosts.json"))).toBe(0o600);
    expect(await readdir(stateDir)).toEqual(["known_hosts.json"]);
  });
});
