import { writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import type { Command } from "commander";
import { GroundcrewError } from "../../../shared/errors.js";
import { terminalSafe } from "../../../shared/terminal-safe.js";
import { loadInventory } from "../../inventory/load.js";
import { toYaml, writesPlaintextSecrets } from "../../inventory/to-yaml.js";
import type { Inventory, InventoryDeps } from "../../inventory/types.js";
import type { CliIo } from "../io.js";
import { renderTable } from "../table.js";

/** Seams for tests: what inventories are read with (defaults: the real machine). */
export interface InventoryCommandOptions {
  readonly deps?: Partial<InventoryDeps>;
}

/** `groundcrew inventory ...`: check, show and convert inventories. Secrets are never printed by `show`. */
export function registerInventoryCommands(
  program: Command,
  io: CliIo,
  options: InventoryCommandOptions = {},
): void {
  const inventory = program
    .command("inventory")
    .description("check, show and convert inventories: the machines of a fleet and the cluster's settings");

  inventory
    .command("show")
    .description("validate an inventory (YAML or Ansible INI) and print its hosts")
    .requiredOption("-i, --inventory <file>", "inventory file")
    .option("--json", "print the whole validated inventory as JSON (secrets redacted)")
    .action(async (flags: { inventory: string; json?: boolean }) => {
      const loaded = await loadInventory(flags.inventory, options.deps);
      io.out(flags.json === true ? `${JSON.stringify(loaded, null, 2)}\n` : `${hostsTable(loaded)}\n`);
    });

  inventory
    .command("convert")
    .description(
      "convert an Ansible INI inventory to groundcrew's YAML (key files are not required to exist here)",
    )
    .argument("<file>", "Ansible INI inventory")
    .option("-o, --output <file>", "write the YAML to this file (mode 0600) instead of printing it")
    .option("--force", "overwrite the output file if it exists")
    .action(async (file: string, flags: { output?: string; force?: boolean }) => {
      const loaded = await loadInventory(file, { ...options.deps, fileExists: () => true });
      const yaml = toYaml(loaded, { homeDir: options.deps?.homeDir ?? homedir() });
      if (writesPlaintextSecrets(loaded)) {
        io.progress("note: the output holds secrets in clear, as the source file does; keep it private");
      }
      if (flags.output === undefined) {
        io.out(yaml);
        return;
      }
      await writeOutput(flags.output, yaml, flags.force === true);
      io.progress(`wrote ${terminalSafe(flags.output)}`);
    });
}

async function writeOutput(output: string, text: string, force: boolean): Promise<void> {
  try {
    await writeFile(output, text, { mode: 0o600, flag: force ? "w" : "wx" });
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "EEXIST") {
      throw new GroundcrewError("INVENTORY_OUTPUT_EXISTS", `${output} exists; pass --force to overwrite it`, {
        context: { file: output },
      });
    }
    throw error;
  }
}

function hostsTable(inventory: Inventory): string {
  return renderTable(
    ["name", "address", "port", "user", "role", "depot", "gpu", "iface"],
    inventory.hosts.map((host) =>
      [
        host.name,
        host.address,
        String(host.ssh.port),
        host.ssh.user,
        host.role,
        host.depot ? "yes" : "",
        host.vars.gpu ? "yes" : "",
        host.vars.iface ?? "",
      ].map(terminalSafe),
    ),
  );
}
