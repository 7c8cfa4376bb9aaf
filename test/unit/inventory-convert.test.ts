import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import { Secret } from "../../shared/secret.js";
import { registerInventoryCommands } from "../../server/cli/commands/inventory.js";
import { parseInventory } from "../../server/inventory/load.js";
import { toYaml } from "../../server/inventory/to-yaml.js";
import type { Inventory, InventoryDeps } from "../../server/inventory/types.js";

const deps: InventoryDeps = { fileExists: () => true, homeDir: "/home/op", env: { SUDO_PW: "env pw" } };

/** An inventory as plain data for comparison: secrets revealed, file/format/source left out. */
function comparable(value: unknown): unknown {
  if (value instanceof Secret) return { secret: value.reveal() };
  if (Array.isArray(value)) return value.map(comparable);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !["file", "format", "source"].includes(key))
      .map(([key, item]) => [key, comparable(item)]),
  );
}

function roundTrip(inventory: Inventory): Inventory {
  return parseInventory(toYaml(inventory, { homeDir: deps.homeDir }), "/elsewhere/converted.yaml", deps);
}

describe("converting inventories to YAML", () => {
  it("turns the airgap-k3s INI sample into YAML that reads back equal", async () => {
    const ini = parseInventory(
      await readFile("inventory/airgap-k3s.ini", "utf8"),
      "/repo/airgap-k3s.ini",
      deps,
    );
    const yaml = toYaml(ini, { homeDir: deps.homeDir });
    expect(yaml).toMatch(/^# groundcrew inventory, converted from airgap-k3s\.ini/);
    expect(yaml).toContain("key: ~/.ssh/id_rsa");
    expect(yaml).toContain("value: k3s_hub_token\n    allowPlaintextToken: true");
    expect(comparable(roundTrip(ini))).toEqual(comparable(ini));
  });

  it("keeps every setting of the annotated example and of secrets through a round trip", async () => {
    const example = parseInventory(
      await readFile("inventory/example.yaml", "utf8"),
      "/repo/example.yaml",
      deps,
    );
    expect(comparable(roundTrip(example))).toEqual(comparable(example));
    const secrets = parseInventory(
      [
        "cp ansible_host=10.0.0.1 ansible_user=ops ansible_become_pass=s3cret groundcrew_allow_plaintext_password=1",
        "w1 ansible_host=10.0.0.2 ansible_user=ops",
        "[driver]",
        "cp",
        "[all:vars]",
        `k3s_token="{{ lookup('env', 'K3S_TOKEN') }}"`,
      ].join("\n"),
      "/repo/hosts",
      deps,
    );
    expect(comparable(roundTrip(secrets))).toEqual(comparable(secrets));
    const fromEnv = parseInventory(
      "hosts: [{name: cp, user: ops, role: server, sudo: {passwordEnv: SUDO_PW}}]",
      "/repo/a.yaml",
      deps,
    );
    expect(toYaml(fromEnv)).not.toContain("env pw");
    expect(comparable(roundTrip(fromEnv))).toEqual(comparable(fromEnv));
  });
});

describe("groundcrew inventory", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "groundcrew-inventory-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function run(...args: string[]): Promise<{ out: string; progress: string[] }> {
    let out = "";
    const progress: string[] = [];
    const program = new Command().exitOverride();
    registerInventoryCommands(
      program,
      { out: (text) => (out += text), progress: (line) => progress.push(line) },
      { deps: { ...deps, fileExists: () => false } },
    );
    await program.parseAsync(["node", "groundcrew", "inventory", ...args]);
    return { out, progress };
  }

  it("convert prints YAML, or writes it (0600) and refuses to overwrite without --force", async () => {
    const printed = await run("convert", "inventory/airgap-k3s.ini");
    expect(printed.out).toContain("- name: worker2");
    expect(printed.progress.join("\n")).toMatch(/secrets in clear/);
    const output = path.join(dir, "fleet.yaml");
    await run("convert", "inventory/airgap-k3s.ini", "-o", output);
    expect(await readFile(output, "utf8")).toBe(printed.out);
    expect((await stat(output)).mode & 0o777).toBe(0o600);
    const refused = await run("convert", "inventory/airgap-k3s.ini", "-o", output).catch(
      (error: unknown) => error,
    );
    expect(isGroundcrewError(refused, "INVENTORY_OUTPUT_EXISTS")).toBe(true);
    await writeFile(output, "old");
    await run("convert", "inventory/airgap-k3s.ini", "-o", output, "--force");
    expect(await readFile(output, "utf8")).toBe(printed.out);
  });

  it("show prints the hosts as a table, or the inventory as JSON, never a secret", async () => {
    const file = path.join(dir, "show.yaml");
    await writeFile(
      file,
      [
        "hosts:",
        "  - {name: cp1, address: 10.0.0.1, user: ops, role: server, depot: true, iface: eth0}",
        "  - {name: gpu1, address: 10.0.0.2, port: 2222, user: ops, gpu: true}",
        "cluster: {token: {value: tok3n, allowPlaintextToken: true}}",
      ].join("\n"),
    );
    const table = await run("show", "-i", file);
    expect(table.out).toBe(
      [
        "name  address   port  user  role    depot  gpu  iface",
        "----  --------  ----  ----  ------  -----  ---  -----",
        "cp1   10.0.0.1  22    ops   server  yes         eth0",
        "gpu1  10.0.0.2  2222  ops   worker         yes",
        "",
      ].join("\n"),
    );
    const json = await run("show", "-i", file, "--json");
    expect(json.out).not.toContain("tok3n");
    expect(JSON.parse(json.out)).toMatchObject({
      cluster: { token: { source: "value", value: "[redacted]" } },
    });
  });

  it("show reports a missing key file with its line", async () => {
    const file = path.join(dir, "missing-key.yaml");
    await writeFile(
      file,
      "hosts:\n  - name: cp1\n    user: ops\n    role: server\n    key: /nonexistent/id\n",
    );
    const error = await run("show", "-i", file).catch((caught: unknown) => caught);
    expect(isGroundcrewError(error, "INVENTORY_INVALID")).toBe(true);
    expect((error as Error).message).toContain(`${file}:5: key file /nonexistent/id does not exist`);
  });
});
