import { describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import { parseInventory } from "../../server/inventory/load.js";
import { InventoryInvalidError } from "../../server/inventory/problems.js";
import { closest } from "../../server/inventory/suggest.js";
import type { InventoryDeps } from "../../server/inventory/types.js";

const FILE = "/fleet/fleet.yaml";
const deps: InventoryDeps = {
  fileExists: (path) => !path.includes("missing"),
  homeDir: "/home/op",
  env: {},
};

/** The "file:line: message" lines of the INVENTORY_INVALID error the YAML lines raise. */
function problems(lines: readonly string[], file = FILE): string[] {
  try {
    parseInventory(lines.join("\n"), file, deps);
  } catch (error) {
    if (isGroundcrewError(error, "INVENTORY_INVALID")) return error.message.split("\n").slice(1);
    throw error;
  }
  throw new Error("expected the inventory to be refused");
}

const ONE_SERVER = ["hosts:", "  - name: cp1", "    user: ops", "    role: server"];

describe("inventory validation", () => {
  it("reports every problem at once, each at its own line", () => {
    const lines = [
      /*  1 */ "defaults:",
      /*  2 */ "  user: ops",
      /*  3 */ "hosts:",
      /*  4 */ "  - name: cp1",
      /*  5 */ "    address: 10.0.0.1",
      /*  6 */ "    role: server",
      /*  7 */ "    depot: true",
      /*  8 */ "  - name: cp2",
      /*  9 */ "    adress: 10.0.0.2",
      /* 10 */ "    role: server",
      /* 11 */ "    depot: true",
      /* 12 */ "  - name: cp1",
      /* 13 */ "    address: 10.0.0.9",
      /* 14 */ "  - name: Worker_1",
      /* 15 */ "    address: 10.0.0.1",
      /* 16 */ "    port: 70000",
      /* 17 */ "    key: ~/.ssh/missing",
      /* 18 */ "    gpu: maybe",
      /* 19 */ "    labels:",
      /* 20 */ '      "bad key!": x',
      /* 21 */ "      tier: 1",
      /* 22 */ "    taints:",
      /* 23 */ "      - gpu=true:Sometimes",
      /* 24 */ "  - name: w2",
      /* 25 */ "    address: 10.0.0.1",
      /* 26 */ "    port: 2201",
      /* 27 */ "  - name: w3",
      /* 28 */ "    address: 10.0.0.1",
      /* 29 */ "    port: 2202",
      /* 30 */ "    role: wroker",
      /* 31 */ "cluster:",
      /* 32 */ "  clusterCidr: 10.42.0.0/33",
      /* 33 */ "  serviceCidr: banana",
      /* 34 */ "  httpPort: http",
      /* 35 */ "  registry:",
      /* 36 */ "    mirrors: [docker.io, 'not a host']",
    ];
    expect(problems(lines)).toEqual([
      `${FILE}:9: unknown key "adress" in host (did you mean "address"?)`,
      `${FILE}:10: 2 servers (cp1, cp2): embedded etcd needs an odd number of servers for quorum: 2 servers tolerate no failure`,
      `${FILE}:11: host "cp2" is a depot, but so is "cp1" (line 7): an inventory has one depot`,
      `${FILE}:12: host name "cp1" is already used at line 4`,
      `${FILE}:14: host name "Worker_1" cannot be a node name: use lowercase letters, digits, "-" and ".", starting and ending with a letter or digit (at most 63 between dots)`,
      `${FILE}:15: 10.0.0.1 port 22 is already the address of host "cp1" (line 5)`,
      `${FILE}:16: port must be a whole number from 1 to 65535, got 70000`,
      `${FILE}:17: key file /home/op/.ssh/missing does not exist`,
      `${FILE}:18: gpu must be true or false, got "maybe"`,
      `${FILE}:20: label key "bad key!" is not a Kubernetes label key`,
      `${FILE}:21: label "tier" must be a string: quote the value`,
      `${FILE}:23: taint "gpu=true:Sometimes" is not key=value:Effect with Effect NoSchedule, PreferNoSchedule, NoExecute`,
      `${FILE}:30: role must be "server" or "worker", got "wroker"`,
      `${FILE}:32: "10.42.0.0/33" is not a CIDR (like "10.42.0.0/16")`,
      `${FILE}:33: "banana" is not a CIDR (like "10.42.0.0/16")`,
      `${FILE}:34: httpPort must be a whole number from 1 to 65535, got "http"`,
      `${FILE}:36: mirror "not a host" is not a registry host name (like "docker.io" or "registry.lan:5000")`,
    ]);
  });

  it("throws one InventoryInvalidError with a header, the problems and the code", () => {
    const error = (() => {
      try {
        parseInventory("hosts: [{name: cp, user: ops, role: server}]\nbogus: 1\n", FILE, deps);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(InventoryInvalidError);
    expect(isGroundcrewError(error, "INVENTORY_INVALID")).toBe(true);
    expect(error).toMatchObject({ problems: [{ line: 2, message: 'unknown key "bogus" in the inventory' }] });
    expect((error as Error).message).toBe(
      `inventory ${FILE} has 1 problem:\n${FILE}:2: unknown key "bogus" in the inventory`,
    );
  });

  it("needs a server, and an odd number of them", () => {
    expect(problems(["hosts:", "  - name: w1", "    user: ops"])).toEqual([
      `${FILE}:1: no host has role server: k3s needs one (or three, for high availability); set role: server on it`,
    ]);
    const four = ["a", "b", "c", "d"].flatMap((name) => [
      `  - name: ${name}`,
      "    user: ops",
      "    role: server",
    ]);
    expect(problems(["hosts:", ...four])).toEqual([
      `${FILE}:13: 4 servers (a, b, c, d): embedded etcd needs an odd number of servers for quorum: 4 servers tolerate 1 failure, as 3 do`,
    ]);
  });

  it("checks sudo, token, paths and cluster networks", () => {
    const lines = [
      /*  1 */ ...ONE_SERVER,
      /*  5 */ "    sudo:",
      /*  6 */ "      password: hunter2",
      /*  7 */ "  - name: w1",
      /*  8 */ "    user: ops",
      /*  9 */ "    sudo: {prompt: false}",
      /* 10 */ "  - name: w2",
      /* 11 */ "    user: ops",
      /* 12 */ "    key: ~other/.ssh/id",
      /* 13 */ "    sudo: {passwordEnv: 1NAME}",
      /* 14 */ "cluster:",
      /* 15 */ "  token: {value: s3cr3t}",
      /* 16 */ "  clusterCidr: 10.0.0.0/8",
      /* 17 */ "  serviceCidr: 10.43.0.0/16",
      /* 18 */ "  httpsPort: 80",
      /* 19 */ "provisioner: {address: 'bad address', port: 0}",
    ];
    const found = problems(lines);
    expect(found).toEqual([
      `${FILE}:6: sudo.password is a plaintext password in the inventory: use passwordEnv or prompt: true, or add allowPlaintextPassword: true to accept it`,
      `${FILE}:9: sudo must be "passwordless", {passwordEnv: NAME}, {prompt: true} or {password: ..., allowPlaintextPassword: true}`,
      `${FILE}:12: "~other/.ssh/id": "~user" paths are not supported; write the full path`,
      `${FILE}:13: sudo.passwordEnv: "1NAME" is not an environment variable name`,
      `${FILE}:15: cluster.token.value is a plaintext token in the inventory: use env or file, or add allowPlaintextToken: true to accept it`,
      `${FILE}:17: clusterCidr 10.0.0.0/8 and serviceCidr 10.43.0.0/16 overlap`,
      `${FILE}:18: httpPort and httpsPort are both 80`,
      `${FILE}:19: provisioner.port must be a whole number from 1 to 65535, got 0`,
      `${FILE}:19: address "bad address" is neither an IP address nor a DNS name`,
    ]);
    expect(found.join("\n")).not.toMatch(/hunter2|s3cr3t/);
  });

  it("reports YAML syntax errors, duplicate keys and misplaced keys at their lines", () => {
    expect(problems(["hosts:", "  - name: a", "    name: b"])).toEqual([
      `${FILE}:3: not valid YAML: Map keys must be unique`,
    ]);
    expect(problems(["defaults:", "  address: 10.0.0.1", ...ONE_SERVER])).toEqual([
      `${FILE}:2: defaults cannot set address: every host has its own`,
    ]);
    expect(problems(["all:", "  hosts:", "    cp1:"])).toEqual([
      `${FILE}:1: this looks like an Ansible YAML inventory (top-level all:); groundcrew reads Ansible INI inventories and its own YAML format (see inventory/README.md)`,
    ]);
    expect(problems([""])).toEqual([`${FILE}:1: the inventory lists no hosts`]);
    expect(problems(["# nothing", "cluster: {}"])).toEqual([`${FILE}:1: the inventory lists no hosts`]);
  });

  it("suggests the closest known key within two edits", () => {
    expect(closest("adress", ["address", "user"])).toBe("address");
    expect(closest("installdocker", ["installDocker", "iface"])).toBe("installDocker");
    expect(closest("install-docker", ["installDocker"])).toBe("installDocker");
    expect(closest("hots", ["hosts", "host"])).toBe("hosts"); // a tie: the first wins
    expect(closest("zzzzzz", ["hosts", "cluster"])).toBeUndefined();
  });
});
