import { Command, CommanderError } from "commander";
import type { Exec, Fs } from "../shared/host-io.js";
import { VERSION } from "../shared/version.js";
import { collectFacts } from "./facts/collect.js";
import { localExec } from "./host/local-exec.js";
import { localFs } from "./host/local-fs.js";

export const PROGRAM_NAME = "groundcrew-agent";

/** What the command tree touches. Tests pass fakes; the executable uses the local host. */
export interface AgentCliDeps {
  readonly exec: Exec;
  readonly fs: Fs;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly now?: () => Date;
}

const localDeps: AgentCliDeps = {
  exec: localExec,
  fs: localFs,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/**
 * The agent's command tree. `argv` is a full process argv (node-style: the
 * first two entries are skipped; in a Node SEA process.argv[1] is the
 * executable again, so process.argv fits as is). Resolves to the process exit
 * code and never rejects: 0 on success, 1 after printing
 * "groundcrew-agent: <message>" to stderr, commander's code for usage errors.
 */
export async function main(argv: readonly string[], deps: AgentCliDeps = localDeps): Promise<number> {
  const program = new Command()
    .name(PROGRAM_NAME)
    .description("groundcrew's host agent: runs on each fleet machine, needs no Node.js installed")
    .version(VERSION, "-V, --version", "print the agent version")
    .configureOutput({
      writeOut: deps.stdout,
      writeErr: deps.stderr,
      outputError: (text, write) => {
        write(`${PROGRAM_NAME}: ${text.replace(/^error: /, "")}`);
      },
    })
    .exitOverride();
  program
    .command("facts")
    .description("print this host's facts as JSON (reads only)")
    .action(async () => {
      const facts = await collectFacts({
        exec: deps.exec,
        fs: deps.fs,
        ...(deps.now === undefined ? {} : { now: deps.now }),
      });
      deps.stdout(`${JSON.stringify(facts, null, 2)}\n`);
    });
  try {
    await program.parseAsync([...argv], { from: "node" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    deps.stderr(`${PROGRAM_NAME}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
