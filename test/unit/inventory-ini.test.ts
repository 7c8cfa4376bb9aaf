import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import { parseInventory } from "../../server/inventory/load.js";
import type { Inventory, InventoryDeps } from "../../server/inventory/types.js";

const FILE = "/fleet/hosts.ini";
const deps: InventoryDeps = { fileExists: () => true, homeDir: "/home/op", env: {} };

function parse(lines: readonly string[], overrides: Partial<InventoryDeps> = {}): Inventory {
  return parseInventory(lines.join("\n"), FILE, { ...deps, ...overrides });
}

/** The "file:line: message" lines of the INVENTORY_INVALID error the text raises. */
function problems(lines: readonly string[]): string[] {
  try {
    parse(lines);
  } catch (error) {
    if (isGroundcrewError(error, "INVENTORY_INVALID")) return error.message.split("\n").slice(1);
    throw error;
  }
  throw new Error("expected the inventory to be refused");
}

const SERVER = ["cp ansible_host=10.0.0.1 ansible_user=ops", "[driver]", "cp"];

describe("Ansible INI inventories", () => {
  it("reads the airgap-k3s sample unchanged", async () => {
    const file = "inventory/airgap-k3s.ini";
    const inventory = parseInventory(await readFile(file, "utf8"), "/repo/airgap-k3s.ini", deps);
    expect(inventory.format).toBe("ini");
    const [worker2, master] = inventory.hosts;
    expect(worker2).toEqual({
      name: "worker2",
      address: "127.0.0.1",
      ssh: { user: "vagrant", port: 2201, keyFile: "/home/op/.ssh/id_rsa", useAgent: false },
      sudo: { mode: "passwordless" },
      role: "worker",
      depot: false,
      vars: {
        iface: "eth1",
        gpu: true,
        labels: {},
        taints: [],
        installDocker: true,
        installNvidiaDriver: true,
      },
      groups: ["worker"],
      source: { file: "/repo/airgap-k3s.ini", line: 1 },
    });
    expect(master).toMatchObject({
      name: "master",
      address: "127.0.0.1",
      ssh: { user: "vagrant", port: 2222, keyFile: "/home/op/.ssh/id_rsa", useAgent: false },
      role: "server",
      depot: true,
      vars: { iface: "eth1", gpu: false, installDocker: true, installNvidiaDriver: true },
      groups: ["driver", "registry"],
      source: { line: 2 },
    });
    const { token, ...cluster } = inventory.cluster;
    expect(token.source === "value" && token.value.reveal()).toBe("k3s_hub_token");
    expect(cluster).toEqual({
      clusterCidr: "10.42.0.0/16",
      serviceCidr: "10.43.0.0/16",
      httpPort: 9000,
      httpsPort: 9443,
      registry: {
        port: 5000,
        tls: true,
        mirrors: ["docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "nvcr.io"],
      },
    });
    expect(inventory.provisioner).toEqual({});
  });

  it("takes aliases, quotes, booleans, name:port and hosts first listed under a group", () => {
    const inventory = parse([
      "# fleet",
      "; another comment",
      "[driver]",
      `cp ansible_host="10.0.0.1" ansible_user='ops' ansible_port=2200 ansible_private_key_file=keys/id # comment`,
      "[worker]",
      "w1:2201 ansible_host=10.0.0.1 ansible_user=ops has_gpu=YES install_docker=0 my_iface='eth1'",
    ]);
    const [cp, w1] = inventory.hosts;
    expect(cp?.ssh).toEqual({ user: "ops", port: 2200, keyFile: "/fleet/keys/id", useAgent: false });
    expect(cp?.role).toBe("server");
    expect(w1?.ssh).toEqual({ user: "ops", port: 2201, useAgent: true });
    expect(w1?.vars).toMatchObject({ gpu: true, installDocker: false, iface: "eth1" });
  });

  it("applies [all:vars], then group vars (parents before children), then the host's own", () => {
    const inventory = parse([
      "cp ansible_host=10.0.0.1",
      "gpu1 ansible_host=10.0.0.2 my_iface=eth9",
      "[driver]",
      "cp",
      "[gpu]",
      "gpu1",
      "[accelerated:children]",
      "gpu",
      "[all:vars]",
      "ansible_user=ops",
      "my_iface=eth0",
      "[accelerated:vars]",
      "has_gpu=true",
      "install_nvidia_driver=false",
      "[gpu:vars]",
      "install_nvidia_driver = true",
    ]);
    const [cp, gpu1] = inventory.hosts;
    expect(cp?.vars).toMatchObject({ iface: "eth0", gpu: false, installNvidiaDriver: false });
    expect(gpu1?.vars).toMatchObject({ iface: "eth9", gpu: true, installNvidiaDriver: true });
    expect(gpu1?.groups).toEqual(["gpu", "accelerated"]);
    expect(gpu1?.role).toBe("worker");
  });

  it("takes the user from $USER when the inventory names none, as ssh does", () => {
    const inventory = parse(["cp", "[driver]", "cp"], { env: { USER: "me" } });
    expect(inventory.hosts[0]?.ssh.user).toBe("me");
    expect(inventory.hosts[0]?.address).toBe("cp");
  });

  it("refuses a plaintext sudo password without the opt-in, naming the line but not the password", () => {
    const found = problems([...SERVER, "[all:vars]", "ansible_become_pass=hunter2"]);
    expect(found).toEqual([
      `${FILE}:5: ansible_become_pass is a plaintext sudo password: add groundcrew_allow_plaintext_password=true to accept it, or convert to YAML and use sudo.passwordEnv`,
    ]);
    expect(found.join("\n")).not.toContain("hunter2");
  });

  it("accepts a plaintext sudo password with the opt-in, as a Secret", () => {
    const inventory = parse([
      "cp ansible_host=10.0.0.1 ansible_user=ops ansible_sudo_pass='hunter 2'",
      "[driver]",
      "cp",
      "[all:vars]",
      "groundcrew_allow_plaintext_password=true",
    ]);
    const sudo = inventory.hosts[0]?.sudo;
    expect(sudo?.mode === "password" && sudo.value?.reveal()).toBe("hunter 2");
    expect(JSON.stringify(inventory)).not.toContain("hunter");
  });

  it("reports unknown variables with a suggestion, ignores unused ansible_* ones, refuses SSH passwords", () => {
    expect(
      problems([
        "cp ansible_host=10.0.0.1 ansible_user=ops has_gpus=true ansible_python_interpreter=/usr/bin/python3",
        "[driver]",
        "cp",
        "[all:vars]",
        "ansible_ssh_pass=secret",
        "zzz=1",
      ]),
    ).toEqual([
      `${FILE}:1: unknown variable "has_gpus" (did you mean "has_gpu"?)`,
      `${FILE}:5: SSH passwords are not supported: log in with ansible_ssh_private_key_file or an SSH agent`,
      `${FILE}:6: unknown variable "zzz"`,
    ]);
  });

  it("reads tokens from the environment through lookup('env'), refuses other templates", () => {
    const inventory = parse([...SERVER, "[all:vars]", `k3s_token="{{ lookup('env', 'K3S_TOKEN') }}"`]);
    expect(inventory.cluster.token).toEqual({ source: "env", env: "K3S_TOKEN" });
    expect(problems([...SERVER, "[all:vars]", "k3s_token={{ vault_token }}"])).toEqual([
      `${FILE}:5: the token is a Jinja template groundcrew cannot evaluate: write the token itself, or {{ lookup('env', 'NAME') }} to take it from the environment`,
    ]);
  });

  it("reports bad values, conflicting cluster settings and malformed lines at their lines", () => {
    expect(
      problems([
        "cp ansible_host=10.0.0.1 ansible_user=ops ansible_port=ssh has_gpu=maybe stray",
        "[driver]",
        "cp",
        "[driver:vars]",
        "http_port=8080",
        "[all:vars]",
        "http_port=9000",
        "https_port=70000",
        "no equals sign",
        "[worker]",
        "web[01:03]",
        "w 'unterminated",
        "[worker:bogus]",
      ]),
    ).toEqual([
      `${FILE}:1: expected key=value after the host name (word 6)`,
      `${FILE}:1: port must be a whole number from 1 to 65535, got "ssh"`,
      `${FILE}:1: gpu must be true or false, got "maybe"`,
      `${FILE}:7: http_port differs from line 5: cluster settings must agree`,
      `${FILE}:8: httpsPort must be a whole number from 1 to 65535, got "70000"`,
      `${FILE}:9: expected key=value in [all:vars]`,
      `${FILE}:11: host ranges like "web[01:03]" are not supported: list each host`,
      `${FILE}:12: unterminated ' quote`,
      `${FILE}:13: unknown section kind [worker:bogus]: use [worker], [worker:vars] or [worker:children]`,
    ]);
  });
});
