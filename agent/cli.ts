import { Command, CommanderError } from "commander";
import { VERSION } from "../shared/version.js";
import { collectFacts } from "./facts/collect.js";
import { localExec } from "./host/local-exec.js";
import { localFs } from "./host/local-fs.js";

/** The agent's command tree. Resolves to the process exit code; never throws. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command()
    .name("groundcrew-agent")
    .description("groundcrew's host agent: runs on each fleet machine, needs no Node.js installed")
    .version(VERSION, "-V, --version", "print the agent version")
    .exitOverride();
  program
    .command("facts")
    .description("print this host's facts as JSON (reads only)")
    .action(async () => {
      const facts = await collectFacts({ exec: localExec, fs: localFs });
      process.stdout.write(`${JSON.stringify(facts, null, 2)}\n`);
    });
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    process.stderr.write(`groundcrew-agent: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
