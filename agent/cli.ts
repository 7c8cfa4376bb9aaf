import { Command, CommanderError } from "commander";
import { HOST_CAS_DIR } from "../shared/artifacts.js";
import type { Exec, Fs } from "../shared/host-io.js";
import { VERSION } from "../shared/version.js";
import { casReceiveCommand, casStatusCommand } from "./commands/cas.js";
import { checkPlanCommand } from "./commands/check-plan.js";
import { depotServeCommand } from "./commands/depot-serve.js";
import { runPlanCommand } from "./commands/run-plan.js";
import { serveCommand } from "./commands/serve.js";
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
  /** Everything on standard input (the plan for check-plan). */
  readonly readStdin?: () => Promise<string>;
  /** Standard input as bytes (the artifact for `cas receive`). */
  readonly stdinBytes?: () => AsyncIterable<Uint8Array>;
  /** Resolves when a long-running command must stop (`depot serve`): SIGTERM or SIGINT in the executable. */
  readonly untilStopped?: () => Promise<void>;
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function untilTerminated(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

const localDeps: AgentCliDeps = {
  exec: localExec,
  fs: localFs,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin: readProcessStdin,
  stdinBytes: () => process.stdin,
  untilStopped: untilTerminated,
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
  let code = 0;
  program
    .command("run")
    .description("run a plan on this host without a provisioner, printing events as JSON lines")
    .requiredOption("--plan <file>", "plan JSON file")
    .option("--state-dir <dir>", "where the ownership ledger lives")
    .action(async (options: { plan: string; stateDir?: string }) => {
      code = await runPlanCommand(options.plan, {
        ...deps,
        ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }),
      });
    });
  program
    .command("check-plan")
    .description("read a plan on stdin and print what each step's check says (changes nothing)")
    .option("--state-dir <dir>", "where the ownership ledger lives")
    .action(async (options: { stateDir?: string }) => {
      code = await checkPlanCommand({
        ...deps,
        readStdin: deps.readStdin ?? readProcessStdin,
        ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }),
      });
    });
  program
    .command("serve")
    .description(
      "run as the provisioner's agent (systemd unit): dial back, run the plan, deliver every event",
    )
    .requiredOption("--config <file>", "agent config written by the provisioner")
    .action(async (options: { config: string }) => {
      code = await serveCommand(options.config, deps);
    });
  const cas = program.command("cas").description("this host's content-addressed artifact store");
  cas
    .command("status")
    .description('print {"present":bool,"partialBytes":N} for an artifact (reads only)')
    .requiredOption("--sha256 <hex>", "the artifact's sha256")
    .option("--size <bytes>", "present only with this size")
    .option("--root <dir>", "the store's root", HOST_CAS_DIR)
    .action(async (options: Record<string, unknown>) => {
      code = await casStatusCommand(options, deps);
    });
  cas
    .command("receive")
    .description("store an artifact read from stdin, resuming at --offset; verified before it is published")
    .requiredOption("--sha256 <hex>", "the artifact's sha256")
    .requiredOption("--size <bytes>", "the artifact's size")
    .requiredOption("--path <path>", "its bundle path (for messages)")
    .requiredOption("--kind <kind>", "its kind")
    .requiredOption("--offset <bytes>", "where stdin starts: 0, or the partialBytes `cas status` printed")
    .option("--root <dir>", "the store's root", HOST_CAS_DIR)
    .action(async (options: Record<string, unknown>) => {
      code = await casReceiveCommand(options, (deps.stdinBytes ?? (() => process.stdin))(), deps);
    });
  program
    .command("depot")
    .description("serve this host's artifacts to the other hosts")
    .command("serve")
    .description("run the depot HTTPS server (mutual TLS) until SIGTERM")
    .requiredOption("--config <file>", "depot config written by the provisioner")
    .action(async (options: { config: string }) => {
      code = await depotServeCommand(options.config, {
        stdout: deps.stdout,
        stderr: deps.stderr,
        untilStopped: deps.untilStopped ?? untilTerminated,
      });
    });
  try {
    await program.parseAsync([...argv], { from: "node" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    deps.stderr(`${PROGRAM_NAME}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
