import { describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import { parseInventory } from "../../server/inventory/load.js";
import { toYaml } from "../../server/inventory/to-yaml.js";
import type { InventoryDeps } from "../../server/inventory/types.js";

const FILE = "/fleet/fleet.yaml";
const deps: InventoryDeps = { fileExists: () => true, homeDir: "/home/op", env: {} };
const HOSTS = ["hosts:", "  - {name: cp1, user: ops, role: server, depot: true}"];

function problems(lines: readonly string[]): string[] {
  try {
    parseInventory(lines.join("\n"), FILE, deps);
  } catch (error) {
    if (isGroundcrewError(error, "INVENTORY_INVALID")) return error.message.split("\n").slice(1);
    throw error;
  }
  throw new Error("expected the inventory to be refused");
}

describe("inventory storage.nfs", () => {
  it("reads every setting, at the line of nfs:", () => {
    const inventory = parseInventory(
      [
        ...HOSTS,
        /* 3 */ "storage:",
        /* 4 */ "  nfs:",
        /* 5 */ "    server: 10.0.0.5",
        /* 6 */ "    path: /exports/k8s",
        /* 7 */ "    storageClass: shared.rwx",
        /* 8 */ "    mountOptions: [nfsvers=4.1, hard]",
        /* 9 */ "    reclaimPolicy: Retain",
        /* 10 */ "    archiveOnDelete: false",
      ].join("\n"),
      FILE,
      deps,
    );
    expect(inventory.storage).toEqual({
      nfs: {
        server: "10.0.0.5",
        path: "/exports/k8s",
        storageClass: "shared.rwx",
        mountOptions: ["nfsvers=4.1", "hard"],
        reclaimPolicy: "Retain",
        archiveOnDelete: false,
        line: 4,
      },
    });
  });

  it("fills in the defaults: class nfs-rwx, no mount options, Delete, archived on delete", () => {
    const inventory = parseInventory(
      [...HOSTS, "storage:", "  nfs: {server: nfs.lan, path: /}"].join("\n"),
      FILE,
      deps,
    );
    expect(inventory.storage.nfs).toEqual({
      server: "nfs.lan",
      path: "/",
      storageClass: "nfs-rwx",
      mountOptions: [],
      reclaimPolicy: "Delete",
      archiveOnDelete: true,
      line: 4,
    });
  });

  it("has none when the block is absent or empty, and INI inventories have none", () => {
    expect(parseInventory(HOSTS.join("\n"), FILE, deps).storage).toEqual({});
    expect(parseInventory([...HOSTS, "storage:"].join("\n"), FILE, deps).storage).toEqual({});
    expect(parseInventory("[driver]\ncp1 ansible_user=ops\n", "/fleet/hosts.ini", deps).storage).toEqual({});
  });

  it("reports every bad value at its own line, naming the file", () => {
    expect(
      problems([
        ...HOSTS,
        /* 3 */ "storage:",
        /* 4 */ "  nfs:",
        /* 5 */ "    server: not_a host",
        /* 6 */ "    path: exports/k8s",
        /* 7 */ "    storageClass: local-path",
        /* 8 */ "    mountOptions:",
        /* 9 */ "      - nfsvers=4.1",
        /* 10 */ "      - hard, intr",
        /* 11 */ "    reclaimPolicy: Recycle",
        /* 12 */ "    archiveOnDelete: maybe",
        /* 13 */ "    mountOption: [soft]",
      ]),
    ).toEqual([
      `${FILE}:5: storage.nfs.server must be an IP address or a DNS name, got "not_a host"`,
      `${FILE}:6: storage.nfs.path must be an absolute path without blanks, "." or ".." (the export on the server), got "exports/k8s"`,
      `${FILE}:7: storage.nfs.storageClass must not be "local-path": that is k3s's own class, got "local-path"`,
      `${FILE}:10: storage.nfs.mountOptions[1] must be one mount option, without blanks or commas, got "hard, intr"`,
      `${FILE}:11: storage.nfs.reclaimPolicy must be "Delete" or "Retain", got "Recycle"`,
      `${FILE}:12: storage.nfs.archiveOnDelete must be true or false, got "maybe"`,
      `${FILE}:13: unknown key "mountOption" in storage.nfs (did you mean "mountOptions"?)`,
    ]);
  });

  it("names what is missing at the nfs: line, and refuses wrong shapes", () => {
    expect(problems([...HOSTS, "storage:", "  nfs:", "    storageClass: Shared"])).toEqual([
      `${FILE}:4: storage.nfs.server is required: the NFS server's IP address or DNS name`,
      `${FILE}:4: storage.nfs.path is required: the export's absolute path, like "/exports/k8s"`,
      `${FILE}:5: storage.nfs.storageClass must be a lowercase DNS name (letters, digits, "-" and "."), got "Shared"`,
    ]);
    expect(
      problems([...HOSTS, "storage:", "  nfs: {server: 10.0.0.5, path: /x/../y, mountOptions: hard}"]),
    ).toEqual([
      `${FILE}:4: storage.nfs.path must be an absolute path without blanks, "." or ".." (the export on the server), got "/x/../y"`,
      `${FILE}:4: storage.nfs.mountOptions must be a list of mount options, like ["nfsvers=4.1", "hard"], got "hard"`,
    ]);
    expect(problems([...HOSTS, "storage: [nfs]"])).toEqual([`${FILE}:3: storage must be a map, got a list`]);
    expect(problems([...HOSTS, "storage:", "  nfs: /exports"])).toEqual([
      `${FILE}:4: storage.nfs must be a map, got "/exports"`,
    ]);
    expect(problems([...HOSTS, "storage:", "  ceph: {}"])).toEqual([
      `${FILE}:4: unknown key "ceph" in storage`,
    ]);
  });

  it("converts back to YAML that reads as the same settings", () => {
    const source = [
      ...HOSTS,
      "storage:",
      "  nfs: {server: 10.0.0.5, path: /exports/k8s, mountOptions: [nfsvers=4.1], archiveOnDelete: false}",
    ].join("\n");
    const inventory = parseInventory(source, FILE, deps);
    const again = parseInventory(toYaml(inventory), FILE, deps);
    expect({ ...again.storage.nfs, line: 0 }).toEqual({ ...inventory.storage.nfs, line: 0 });
    expect(toYaml(inventory)).toContain(
      "storage:\n  nfs:\n    server: 10.0.0.5\n    path: /exports/k8s\n    mountOptions:\n      - nfsvers=4.1\n    archiveOnDelete: false\n",
    );
  });
});
