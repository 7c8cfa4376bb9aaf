import { describe, expect, it } from "vitest";
import { collectFacts } from "../../agent/facts/collect.js";
import { readNfsMountHelper } from "../../agent/facts/nfs-client.js";
import { hostFactsSchema } from "../../shared/facts.js";
import { directory, fakeFs, symlink } from "../fakes/fake-fs.js";
import { fakeGpuServer } from "../fakes/fake-host.js";

describe("the NFS mount helper fact", () => {
  it("is null on a host without nfs-common", async () => {
    expect(await readNfsMountHelper(fakeFs({ "/sbin/mount.cifs": "" }))).toBeNull();
  });

  it("names /sbin/mount.nfs first, then /usr/sbin/mount.nfs", async () => {
    const both = fakeFs({ "/sbin/mount.nfs": "(binary)", "/usr/sbin/mount.nfs": "(binary)" });
    expect(await readNfsMountHelper(both)).toBe("/sbin/mount.nfs");
    expect(await readNfsMountHelper(fakeFs({ "/usr/sbin/mount.nfs": "(binary)" }))).toBe(
      "/usr/sbin/mount.nfs",
    );
  });

  it("counts a symbolic link (not followed), never a directory of that name", async () => {
    expect(await readNfsMountHelper(fakeFs({ "/sbin/mount.nfs": symlink("/opt/nfs/mount.nfs") }))).toBe(
      "/sbin/mount.nfs",
    );
    expect(await readNfsMountHelper(fakeFs({ "/sbin/mount.nfs": directory() }))).toBeNull();
  });

  it("is part of the facts document the server validates", async () => {
    const { fs, exec } = fakeGpuServer({ "/usr/sbin/mount.nfs": "(binary)" });
    const facts = await collectFacts({ fs, exec, now: () => new Date("2026-11-21T12:00:00.000Z") });
    expect(facts.nfsMountHelper).toBe("/usr/sbin/mount.nfs");
    expect(hostFactsSchema.parse(facts)).toEqual(facts);
    // Only the two known paths cross the trust boundary.
    expect(hostFactsSchema.safeParse({ ...facts, nfsMountHelper: "/tmp/mount.nfs" }).success).toBe(false);
  });
});
