import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../agent/ledger/hash.js";
import { Ledger } from "../../agent/ledger/ledger.js";
import { writeOwnedFile } from "../../agent/ledger/owned-files.js";
import { withMaskedUnit, withSysctl } from "../../agent/ledger/record.js";
import { undoRecorded } from "../../agent/ledger/undo.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { fakeFs, fsError, type FakeTree } from "../fakes/fake-fs.js";

const STATE = "/var/lib/groundcrew/agent/state";

function host(tree: FakeTree = {}) {
  const fs = fakeFs({ "/etc/hostname": "node-1\n", "/var/lib/.keep": "", ...tree });
  const exec = fakeExec();
  const ledger = new Ledger(fs, STATE).forStep("test.step");
  const before = fs.snapshot();
  /** The host's tree outside the agent's state directory. */
  const hostTree = () =>
    Object.fromEntries(Object.entries(fs.snapshot()).filter(([path]) => !path.startsWith(STATE)));
  return { fs, exec, ledger, before, hostTree };
}

describe("writeOwnedFile + undoRecorded", () => {
  it("records a new file and the directories it created; undo removes exactly those", async () => {
    const { fs, exec, ledger, before, hostTree } = host();
    expect(await writeOwnedFile({ fs, ledger }, "/etc/new.d/sub/a.conf", "a=1\n", 0o640)).toBe(true);
    expect(await fs.readText("/etc/new.d/sub/a.conf")).toBe("a=1\n");
    expect(fs.modeOf("/etc/new.d/sub/a.conf")).toBe(0o640);
    expect(await ledger.read()).toEqual({
      version: 1,
      stepId: "test.step",
      files: [{ path: "/etc/new.d/sub/a.conf", sha256: sha256Hex("a=1\n"), mode: 0o640, previous: null }],
      directories: ["/etc/new.d", "/etc/new.d/sub"],
      sysctls: [],
      maskedUnits: [],
      packages: [],
      trees: [],
      groups: [],
      firewallRules: [],
      uninstallers: [],
      reboots: [],
    });
    expect(await undoRecorded({ fs, exec, ledger })).toEqual([
      "removed /etc/new.d/sub/a.conf",
      "removed directory /etc/new.d/sub",
      "removed directory /etc/new.d",
    ]);
    expect(hostTree()).toEqual(before);
  });

  it("is idempotent: the same content again writes nothing", async () => {
    const { fs, ledger } = host();
    await writeOwnedFile({ fs, ledger }, "/etc/a.conf", "a\n", 0o644);
    const writes = fs.writes.length;
    expect(await writeOwnedFile({ fs, ledger }, "/etc/a.conf", "a\n", 0o644)).toBe(false);
    expect(fs.writes.length).toBe(writes);
  });

  it("backs up a file that was there before, keeps the first backup across rewrites, and restores it", async () => {
    const { fs, exec, ledger, before, hostTree } = host({ "/etc/fstab": "original\n" });
    await fs.chmod("/etc/fstab", 0o600);
    await writeOwnedFile({ fs, ledger }, "/etc/fstab", "first\n", 0o600);
    await writeOwnedFile({ fs, ledger }, "/etc/fstab", "second\n", 0o600);
    const record = await ledger.read();
    expect(record?.files).toHaveLength(1);
    const previous = record?.files[0]?.previous;
    expect(previous).toEqual({
      backup: `${STATE}/ledger/backups/test.step/%2Fetc%2Ffstab`,
      sha256: sha256Hex("original\n"),
      mode: 0o600,
    });
    expect(await fs.readText(previous!.backup)).toBe("original\n");
    expect(await undoRecorded({ fs, exec, ledger })).toEqual(["restored /etc/fstab"]);
    expect(await fs.readText("/etc/fstab")).toBe("original\n");
    expect(fs.modeOf("/etc/fstab")).toBe(0o600);
    expect(await fs.stat(previous!.backup)).toBeUndefined();
    expect(hostTree()).toEqual({ ...before });
  });

  it("leaves alone a matching file the agent did not write, and records nothing", async () => {
    const { fs, exec, ledger } = host({ "/etc/a.conf": "same\n" });
    expect(await writeOwnedFile({ fs, ledger }, "/etc/a.conf", "same\n", 0o644)).toBe(false);
    expect(await ledger.read()).toBeUndefined();
    expect(await undoRecorded({ fs, exec, ledger })).toEqual([]);
    expect(await fs.readText("/etc/a.conf")).toBe("same\n");
  });

  it("leaves a file someone changed after the agent wrote it, and keeps the backup", async () => {
    const { fs, exec, ledger } = host({ "/etc/b.conf": "theirs\n" });
    await writeOwnedFile({ fs, ledger }, "/etc/new.conf", "ours\n", 0o644);
    await writeOwnedFile({ fs, ledger }, "/etc/b.conf", "ours\n", 0o644);
    await fs.writeFileAtomic("/etc/new.conf", "edited\n", 0o644);
    await fs.writeFileAtomic("/etc/b.conf", "edited\n", 0o644);
    const changes = await undoRecorded({ fs, exec, ledger });
    expect(changes).toEqual([
      `left /etc/b.conf: changed since groundcrew wrote it (previous version kept at ${STATE}/ledger/backups/test.step/%2Fetc%2Fb.conf)`,
      "left /etc/new.conf: changed since groundcrew wrote it",
    ]);
    expect(await fs.readText("/etc/new.conf")).toBe("edited\n");
    expect(await fs.readText(`${STATE}/ledger/backups/test.step/%2Fetc%2Fb.conf`)).toBe("theirs\n");
    expect((await ledger.read())?.files).toEqual([]);
  });

  it("records before writing: a failed write leaves a record whose undo is harmless", async () => {
    let full = false;
    const fs = fakeFs(
      { "/etc/fstab": "original\n", "/var/lib/.keep": "" },
      { fault: (op, path) => (full && path === "/etc/fstab" ? fsError("ENOSPC", path, op) : undefined) },
    );
    const ledger = new Ledger(fs, STATE).forStep("test.step");
    full = true;
    await expect(writeOwnedFile({ fs, ledger }, "/etc/fstab", "changed\n", 0o644)).rejects.toMatchObject({
      code: "HOST_IO_FAILED",
      message: expect.stringContaining("/etc/fstab") as unknown,
    });
    expect((await ledger.read())?.files.map((file) => file.path)).toEqual(["/etc/fstab"]);
    full = false;
    expect(await undoRecorded({ fs, exec: fakeExec(), ledger })).toEqual(["restored /etc/fstab"]);
    expect(await fs.readText("/etc/fstab")).toBe("original\n");
  });

  it("writes previous kernel parameter values back and unmasks units", async () => {
    const { fs, ledger } = host({
      "/proc/sys/net/ipv4/ip_forward": "1\n",
      "/proc/sys/vm/swappiness": "10\n",
    });
    await ledger.update((record) =>
      withMaskedUnit(
        withSysctl(withSysctl(record, { key: "net.ipv4.ip_forward", previous: "0", applied: "1" }), {
          key: "vm.swappiness",
          previous: "60",
          applied: "0",
        }),
        "dev-sda2.swap",
      ),
    );
    const exec = fakeExec({ "sysctl -w net.ipv4.ip_forward=0": {}, "systemctl unmask dev-sda2.swap": {} });
    expect(await undoRecorded({ fs, exec, ledger })).toEqual([
      "restored net.ipv4.ip_forward=0",
      "left vm.swappiness=10: changed since groundcrew set it",
      "unmasked dev-sda2.swap",
    ]);
    expect(exec.commandLines()).toEqual([
      "sysctl -w net.ipv4.ip_forward=0",
      "systemctl unmask dev-sda2.swap",
    ]);
    expect(await ledger.read()).toMatchObject({ sysctls: [], maskedUnits: [] });
  });

  it("keeps the first recorded previous value of a kernel parameter", async () => {
    const { ledger } = host();
    await ledger.update((r) => withSysctl(r, { key: "net.ipv4.ip_forward", previous: "0", applied: "1" }));
    await ledger.update((r) => withSysctl(r, { key: "net.ipv4.ip_forward", previous: "1", applied: "1" }));
    expect((await ledger.read())?.sysctls).toEqual([
      { key: "net.ipv4.ip_forward", previous: "0", applied: "1" },
    ]);
  });
});

describe("Ledger", () => {
  it("stores one record per step under <stateDir>/ledger and removes it", async () => {
    const { fs, ledger } = host();
    await writeOwnedFile({ fs, ledger }, "/etc/a.conf", "a\n", 0o644);
    expect(await fs.readDir(`${STATE}/ledger`)).toEqual(["test.step.json"]);
    expect(fs.modeOf(`${STATE}/ledger/test.step.json`)).toBe(0o600);
    await ledger.remove();
    expect(await new Ledger(fs, STATE).read("test.step")).toBeUndefined();
  });

  it("refuses a record that is not valid instead of trusting it", async () => {
    const fs = fakeFs({
      [`${STATE}/ledger/test.step.json`]: '{"version":1,"stepId":"test.step","files":"nope"}',
    });
    await expect(new Ledger(fs, STATE).read("test.step")).rejects.toMatchObject({
      code: "AGENT_STATE_CORRUPT",
      message: expect.stringContaining(`${STATE}/ledger/test.step.json`) as unknown,
    });
    const other = fakeFs({ [`${STATE}/ledger/test.step.json`]: "{not json" });
    await expect(new Ledger(other, STATE).read("test.step")).rejects.toMatchObject({
      code: "AGENT_STATE_CORRUPT",
    });
  });

  it("refuses a backup that does not match its recorded hash", async () => {
    const { fs, exec, ledger } = host({ "/etc/c.conf": "before\n" });
    await writeOwnedFile({ fs, ledger }, "/etc/c.conf", "after\n", 0o644);
    await fs.writeFileAtomic(ledger.backupPath("/etc/c.conf"), "tampered\n", 0o600);
    await expect(undoRecorded({ fs, exec, ledger })).rejects.toMatchObject({ code: "AGENT_STATE_CORRUPT" });
    expect(await fs.readText("/etc/c.conf")).toBe("after\n");
  });
});
