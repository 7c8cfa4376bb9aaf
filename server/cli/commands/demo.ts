import type { Command } from "commander";
import { terminalSafe } from "../../../shared/terminal-safe.js";
import { locateAgentBinary } from "../../agent-binary.js";
import { withSudo } from "../../../shared/with-sudo.js";
import { gatherFacts, type GatheredFacts } from "../../facts/gather.js";
import { startLab, type Lab, type LabMachine } from "../../lab/lab.js";
import { keyBlobFromLine, pinnedKeys } from "../../ssh/host-key.js";
import { SshSession } from "../../ssh/session.js";
import { parseMachineCount, type CliIo } from "../io.js";
import { renderTable } from "../table.js";

/**
 * `groundcrew demo`: the main job on the built-in lab. Today it starts the
 * lab, pushes the agent to every machine over SSH and prints their facts;
 * it grows with the pipeline (check, up, reset) as those land.
 */
export function registerDemoCommand(program: Command, io: CliIo): void {
  program
    .command("demo")
    .description("run groundcrew against a built-in lab of air-gapped machines (needs Docker)")
    .option("-n, --machines <count>", "number of lab machines (1-32)", "3")
    .option("--keep", "leave the lab running afterwards (remove it with `groundcrew lab down`)")
    .action(async (options: { machines: string; keep?: boolean }) => {
      const agent = await locateAgentBinary();
      const lab = await startLab({
        machines: parseMachineCount(options.machines),
        detached: options.keep === true,
        onProgress: io.progress,
      });
      try {
        const results = await Promise.all(lab.machines.map((machine) => factsOf(lab, machine, agent)));
        io.out(`${factsTable(lab, results)}\n`);
        if (options.keep === true)
          io.out(`lab ${lab.id} kept; remove it with: groundcrew lab down ${lab.id}\n`);
      } finally {
        if (options.keep !== true) await lab.stop();
      }
    });
}

async function factsOf(
  lab: Lab,
  machine: LabMachine,
  agent: Awaited<ReturnType<typeof locateAgentBinary>>,
): Promise<GatheredFacts> {
  const session = await SshSession.connect({
    name: machine.name,
    host: machine.address,
    username: lab.user,
    privateKey: lab.privateKey,
    hostKeys: pinnedKeys(machine.hostKeys.map(keyBlobFromLine)),
  });
  try {
    return await gatherFacts(session, withSudo(session), agent);
  } finally {
    session.close();
  }
}

function factsTable(lab: Lab, results: readonly GatheredFacts[]): string {
  const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return renderTable(
    ["machine", "address", "os", "kernel", "arch", "cpus", "memory", "gpus", "systemd", "agent"],
    results.map(({ facts, agent }, index) => {
      const machine = lab.machines[index];
      return [
        facts.hostname,
        machine?.address ?? "",
        `${facts.os.id} ${facts.os.versionId}`,
        facts.kernel.release,
        facts.arch,
        String(facts.cpu.count),
        gib(facts.memory.totalBytes),
        String(facts.gpus.length),
        facts.systemd.pid1 ? "pid 1" : "no",
        agent.uploaded ? "pushed" : "present",
      ].map(terminalSafe);
    }),
  );
}
