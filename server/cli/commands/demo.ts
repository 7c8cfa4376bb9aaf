import type { Command } from "commander";
import { removeDemoLab, ensureDemoLab } from "../../demo/demo-lab.js";
import { demoBundle } from "../../demo/demo-bundle.js";
import { stateDirPath } from "../../state-dir.js";
import { parseMachineCount, type CliIo } from "../io.js";
import { runCheckCommand } from "./check.js";
import { runUpCommand } from "./up.js";
import { isVerbose, VERBOSE_HELP } from "../verbose.js";

interface DemoFlags {
  readonly machines: string;
  readonly bundle?: string;
  readonly down?: boolean;
  readonly json?: boolean;
}

/** This machine's architecture as bundles name it (the lab runs on it). */
function hostArch(): "amd64" | "arm64" {
  return process.arch === "arm64" ? "arm64" : "amd64";
}

/**
 * `groundcrew demo`: the main job on the built-in lab. Starts (or reuses) a
 * lab of air-gapped machines, writes its inventory, runs `check` and `up -b`
 * against it with the given bundle or one made from this machine's Debian
 * packages, and leaves it running to explore; `--down` removes it.
 */
export function registerDemoCommand(program: Command, io: CliIo): void {
  program
    .command("demo")
    .description("start a lab of air-gapped machines (needs Docker), then run check and up against it")
    .option("-n, --machines <count>", "number of lab machines (1-32)", "3")
    .option(
      "-b, --bundle <file>",
      "install from this bundle (default: one made from this machine's Debian packages)",
    )
    .option("--down", "remove the demo lab")
    .option("--json", "print up's events as JSON lines")
    .option("--verbose", VERBOSE_HELP)
    .action(async (options: DemoFlags, self: Command) => {
      const verbose = isVerbose(self);
      const stateDir = stateDirPath();
      if (options.down === true) {
        io.out((await removeDemoLab(stateDir)) ? "demo lab removed\n" : "no demo lab\n");
        return;
      }
      const demo = await ensureDemoLab(stateDir, parseMachineCount(options.machines), io.progress);
      const bundle = options.bundle ?? (await demoBundle(stateDir, hostArch(), io.progress)).file;
      io.out(`inventory: ${demo.inventoryFile}\n\n$ groundcrew check -i ${demo.inventoryFile}\n`);
      if (await runCheckCommand({ inventory: demo.inventoryFile, concurrency: "10", verbose }, io)) {
        process.exitCode = 1;
        return;
      }
      io.out(`\n$ groundcrew up -i ${demo.inventoryFile} -b ${bundle}\n`);
      const ok = await runUpCommand(
        {
          inventory: demo.inventoryFile,
          bundle,
          concurrency: "10",
          hostGrace: "180",
          verbose,
          ...(options.json ? { json: true } : {}),
        },
        io,
      );
      if (!ok) process.exitCode = 1;
      io.out(
        [
          "",
          "The lab stays up. Try:",
          "  groundcrew status            per-host state of the run",
          "  groundcrew logs node2        every event node2 reported",
          `  groundcrew up -i ${demo.inventoryFile} -b ${bundle}   again: every step is skipped`,
          `  groundcrew reset -i ${demo.inventoryFile}   uninstall everything, leave the machines as they were`,
          "  groundcrew demo --down       remove the lab",
          "",
        ].join("\n"),
      );
    });
}
