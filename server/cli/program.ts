import { Command } from "commander";
import { VERSION } from "../../shared/version.js";
import { registerBundleCommands } from "./commands/bundle.js";
import { registerCheckCommand } from "./commands/check.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerInventoryCommands } from "./commands/inventory.js";
import { registerJournalCommands } from "./commands/journal.js";
import { registerKubeconfigCommand } from "./commands/kubeconfig.js";
import { registerResetCommand } from "./commands/reset.js";
import { registerUpCommand } from "./commands/up.js";
import { registerLabCommands } from "./commands/lab.js";
import { registerPkiCommands } from "./commands/pki.js";
import type { CliIo } from "./io.js";
import { VERBOSE_HELP } from "./verbose.js";

/** The `groundcrew` command tree. Commands arrive here as the product grows. */
export function createProgram(io: CliIo): Command {
  const program = new Command()
    .name("groundcrew")
    .description(
      "Provision air-gapped bare-metal fleets into k3s clusters from one offline bundle.\n" +
        "A single-file agent is pushed over SSH to every machine and reports back over mutual TLS.",
    )
    .version(VERSION, "-V, --version", "print the groundcrew version")
    .option("--verbose", VERBOSE_HELP)
    // Program options only before the command, so a command may have its own --version (bundle add).
    .enablePositionalOptions()
    .showHelpAfterError()
    .configureOutput({ writeOut: io.out, writeErr: (text) => process.stderr.write(text) });
  registerCheckCommand(program, io);
  registerUpCommand(program, io);
  registerResetCommand(program, io);
  registerKubeconfigCommand(program, io);
  registerJournalCommands(program, io);
  registerDemoCommand(program, io);
  registerInventoryCommands(program, io);
  registerBundleCommands(program, io);
  registerLabCommands(program, io);
  registerPkiCommands(program, io);
  return program;
}
