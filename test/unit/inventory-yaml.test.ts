import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { detectFormat, parseInventory } from "../../server/inventory/load.js";
import type { Inventory, InventoryDeps } from "../../server/inventory/types.js";

const FILE = "/fleet/fleet.yaml";
const deps: InventoryDeps = { fileExists: () => true, homeDir: "/home/op", env: {} };

function parse(lines: readonly string[], overrides: Partial<InventoryDeps> = {}): Inventory {
  return parseInventory(lines.join("\n"), FILE, { ...deps, ...overrides });
}

describe("YAML inventories", () => {
  it("reads the annotated example: 3 servers, 2 workers (one with a GPU), one depot", async () => {
    const inventory = parseInventory(await readFile("inventory/example.yaml", "utf8"), FILE, deps);
    expect(inventory.format).toBe("yaml");
    expect(inventory.hosts.map((host) => [host.name, host.role, host.depot, host.vars.gpu])).toEqual([
      ["cp1", "server", true, false],
      ["cp2", "server", false, false],
      ["cp3", "server", false, false],
      ["worker1", "worker", false, false],
      ["gpu1", "worker", false, true],
    ]);
    const gpu1 = inventory.hosts[4];
    expect(gpu1).toMatchObject({
      address: "10.0.0.22",
      ssh: { user: "ops", port: 22, keyFile: "/home/op/.ssh/id_ed25519", useAgent: false },
      sudo: { mode: "passwordless" },
      vars: {
        iface: "eno1",
        installNvidiaDriver: true,
        installDocker: false,
        labels: { accelerator: "nvidia" },
        taints: ["nvidia.com/gpu=true:NoSchedule"],
      },
      groups: ["gpu"],
    });
    expect(inventory.cluster).toEqual({
      token: { source: "generate" },
      clusterCidr: "10.42.0.0/16",
      serviceCidr: "10.43.0.0/16",
      httpPort: 80,
      httpsPort: 443,
      registry: {
        port: 5000,
        tls: true,
        mirrors: ["docker.io", "registry.k8s.io", "ghcr.io", "quay.io", "nvcr.io"],
      },
    });
    expect(inventory.provisioner).toEqual({});
  });

  it("lays host values over defaults, merging labels", () => {
    const inventory = parse([
      "defaults:",
      "  user: ops",
      "  port: 2222",
      "  labels: {zone: a, tier: web}",
      "hosts:",
      "  - name: cp1",
      "    role: server",
      "    port: 22",
      "    labels: {tier: db}",
      "  - {name: w1, address: w1.lan, user: admin}",
    ]);
    const [cp1, w1] = inventory.hosts;
    expect(cp1?.ssh).toEqual({ user: "ops", port: 22, useAgent: true });
    expect(cp1?.vars.labels).toEqual({ zone: "a", tier: "db" });
    expect(cp1?.address).toBe("cp1");
    expect(w1?.ssh).toEqual({ user: "admin", port: 2222, useAgent: true });
    expect(w1?.address).toBe("w1.lan");
    expect(w1?.role).toBe("worker");
    expect(w1?.source).toEqual({ file: FILE, line: 10 });
  });

  it("reads every sudo form; passwords come from the environment or an explicit opt-in", () => {
    const inventory = parse(
      [
        "hosts:",
        "  - {name: a, user: ops, role: server, sudo: passwordless}",
        "  - {name: b, user: ops, sudo: {passwordEnv: SUDO_PW}}",
        "  - {name: c, user: ops, sudo: {prompt: true}}",
        "  - {name: d, user: ops, sudo: {password: 'pw d', allowPlaintextPassword: true}}",
        "  - {name: e, user: ops, sudo: {passwordEnv: UNSET, prompt: yes}}",
      ],
      { env: { SUDO_PW: "from env" } },
    );
    const [a, b, c, d, e] = inventory.hosts.map((host) => host.sudo);
    expect(a).toEqual({ mode: "passwordless" });
    expect(b).toMatchObject({ mode: "password", passwordEnv: "SUDO_PW", prompt: false });
    expect(b?.mode === "password" && b.value?.reveal()).toBe("from env");
    expect(c).toEqual({ mode: "password", prompt: true });
    expect(d?.mode === "password" && d.value?.reveal()).toBe("pw d");
    expect(e).toEqual({ mode: "password", passwordEnv: "UNSET", prompt: true });
    expect(JSON.stringify(inventory)).not.toMatch(/from env|pw d/);
  });

  it("reads every token source; file paths resolve like key paths", () => {
    const token = (yaml: string): Inventory["cluster"]["token"] =>
      parse(["hosts: [{name: cp, user: ops, role: server}]", `cluster: {token: ${yaml}}`]).cluster.token;
    expect(token("{generate: true}")).toEqual({ source: "generate" });
    expect(token("{env: K3S_TOKEN}")).toEqual({ source: "env", env: "K3S_TOKEN" });
    expect(token("{file: ~/token}")).toEqual({ source: "file", path: "/home/op/token" });
    expect(token("{file: secrets/token}")).toEqual({ source: "file", path: "/fleet/secrets/token" });
    const value = token("{value: abc, allowPlaintextToken: true}");
    expect(value.source === "value" && value.value.reveal()).toBe("abc");
  });

  it("takes the format from the extension, or sniffs it", () => {
    expect(detectFormat("a.yml", "")).toBe("yaml");
    expect(detectFormat("a.YAML", "")).toBe("yaml");
    expect(detectFormat("hosts", "hosts:\n")).toBe("ini");
    expect(detectFormat("a.cfg", "")).toBe("ini");
    expect(detectFormat("a.inventory", "# c\nhosts:\n  - name: a\n")).toBe("yaml");
    expect(detectFormat("a.inventory", "---\n")).toBe("yaml");
    expect(detectFormat("a.txt", "; c\n[driver]\nmaster\n")).toBe("ini");
    expect(detectFormat("a.txt", "master ansible_host=10.0.0.1\n")).toBe("ini");
  });

  it("reads bundle.trust keys relative to the inventory, and reports a missing one at its line", () => {
    const lines = [
      "hosts:",
      "  - {name: a, user: ops, role: server}",
      "bundle:",
      "  trust: [keys/release.pub, /etc/k.pub]",
    ];
    expect(parse(lines).bundle.trust).toEqual(["/fleet/keys/release.pub", "/etc/k.pub"]);
    expect(parse(lines.slice(0, 2)).bundle.trust).toEqual([]);
    expect(() => parse(lines, { fileExists: (file) => file !== "/etc/k.pub" })).toThrow(
      "/fleet/fleet.yaml:4: bundle.trust key /etc/k.pub does not exist",
    );
  });
});
