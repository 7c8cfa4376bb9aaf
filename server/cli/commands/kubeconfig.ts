import { chmod, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { GroundcrewError } from "../../../shared/errors.js";
import { fetchKubeconfig, saveKubeconfig } from "../../cluster/cluster-ready.js";
import { loadInventory } from "../../inventory/load.js";
import { connectHost } from "../../orchestrate/host-session.js";
import { resolveSudoPasswords, terminalAsker } from "../../orchestrate/sudo-passwords.js";
import { KnownHosts } from "../../ssh/known-hosts.js";
import { stateDirPath } from "../../state-dir.js";
import type { CliIo } from "../io.js";

interface KubeconfigFlags {
  readonly inventory: string;
  readonly output?: string;
}

/**
 * `groundcrew kubeconfig -i INV [-o FILE|-]`: the cluster's admin kubeconfig,
 * fetched from the first server over SSH with its server address rewritten
 * to that server's inventory address. It holds admin credentials, so it is
 * written to a 0600 file (the state directory's kubeconfig.yaml by default)
 * and printed only when asked with `-o -`.
 */
export function registerKubeconfigCommand(program: Command, io: CliIo): void {
  program
    .command("kubeconfig")
    .description(
      "fetch the cluster's admin kubeconfig from the first server (address rewritten for this machine)",
    )
    .requiredOption("-i, --inventory <file>", "inventory (YAML, or an Ansible INI inventory)")
    .option("-o, --output <file>", "where to write it (mode 0600); `-` prints it")
    .action(async (flags: KubeconfigFlags) => {
      const inventory = await loadInventory(flags.inventory);
      const servers = inventory.hosts.filter((host) => host.role === "server");
      const first = servers.find((host) => host.depot) ?? servers[0];
      if (first === undefined)
        throw new GroundcrewError("KUBECONFIG_UNAVAILABLE", "the inventory has no server");
      const connection = await connectHost(first, {
        knownHosts: await KnownHosts.open(stateDirPath()),
        acceptNewHostKeys: false,
        sudoPasswords: await resolveSudoPasswords(inventory, process.env, terminalAsker()),
      });
      try {
        const text = await fetchKubeconfig(connection.root, first);
        if (flags.output === "-") {
          io.out(text);
          return;
        }
        const file = flags.output ?? (await saveKubeconfig(stateDirPath(), text));
        if (flags.output !== undefined) {
          await writeFile(file, text, { mode: 0o600 });
          await chmod(file, 0o600);
        }
        io.out(`kubeconfig of the cluster on ${first.name} written to ${file}\nexport KUBECONFIG=${file}\n`);
      } finally {
        connection.session.close();
      }
    });
}
