import type { Command } from "commander";
import { removeDemoLab, ensureDemoLab } from "../../demo/demo-lab.js";
import { stateDirPath } from "../../state-dir.js";
import { parseMachineCount, type CliIo } from "../io.js";
import { runCheckCommand } from "./check.js";
import { runUpCommand } from "./up.js";

/**
 * `groundcrew demo`: the main job on the built-in lab. Starts (or reuses) a
 * lab of air-gapped machines, writes its inventory, runs `check` and `up`
 * against it, and leaves it running to explore; `--down` removes it.
 */
export function registerDemoCommand(program: Command, io: CliIo): void {
  program
    .command("demo")
    .description("start a lab of air-gapped machines (needs Docker), then run check and up against it")
    .option("-n, --machines <count>", "number of lab machines (1-32)", "3")
    .option("--down", "remove the demo lab")
    .option("--json", "print up's events as JSON lines")
    .action(async (options: { machines: string; down?: boolean; json?: boolean }) => {
      const stateDir = stateDirPath();
      if (options.down === true) {
        io.out((await removeDemoLab(stateDir)) ? "demo lab removed\n" : "no demo lab\n");
        return;
      }
      const demo = await ensureDemoLab(stateDir, parseMachineCount(options.machines), io.progress);
      io.out(`inventory: ${demo.inventoryFile}\n\n$ groundcrew check -i ${demo.inventoryFile}\n`);
      if (await runCheckCommand({ inventory: demo.inventoryFile, concurrency: "10" }, io)) {
        process.exitCode = 1;
        return;
      }
      io.out(`\n$ groundcrew up -i ${demo.inventoryFile}\n`);
      const ok = await runUpCommand(
        {
          inventory: demo.inventoryFile,
          concurrency: "10",
          hostGrace: "180",
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
          `  groundcrew up -i ${demo.inventoryFile}   again: every step is skipped`,
          "  groundcrew demo --down       remove the lab",
          "",
        ].join("\n"),
      );
    });
}
