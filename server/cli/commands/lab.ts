import type { Command } from "commander";
import { dockerClient } from "../../lab/docker.js";
import { ensureMachineImage } from "../../lab/image-build.js";
import { describeLab, destroyLab, listLabs, startLab } from "../../lab/lab.js";
import { renderTable } from "../table.js";
import { parseMachineCount, type CliIo } from "../io.js";

/** `groundcrew lab ...`: the built-in lab of fleet machines (containers on an internal network). */
export function registerLabCommands(program: Command, io: CliIo): void {
  const lab = program
    .command("lab")
    .description("start and stop lab machines: systemd + sshd containers on an air-gapped Docker network");

  lab
    .command("up")
    .description("start a lab that stays up until `groundcrew lab down`, and print how to reach it")
    .option("-n, --machines <count>", "number of machines (1-32)", "3")
    .option("--json", "print the lab description as JSON")
    .action(async (options: { machines: string; json?: boolean }) => {
      const started = await startLab({
        machines: parseMachineCount(options.machines),
        detached: true,
        onProgress: io.progress,
      });
      const description = describeLab(started);
      if (options.json === true) {
        io.out(`${JSON.stringify(description, null, 2)}\n`);
        return;
      }
      io.out(
        `lab ${started.id} on internal network ${started.network.name} (${started.network.subnet})\n` +
          `${renderTable(
            ["machine", "address", "ssh"],
            started.machines.map((machine) => [
              machine.name,
              machine.address,
              `ssh -i ${started.privateKeyPath} -o StrictHostKeyChecking=accept-new ${started.user}@${machine.address}`,
            ]),
          )}\n`,
      );
    });

  lab
    .command("down")
    .description("remove a lab's machines, network and key (all labs when no id is given)")
    .argument("[id]", "lab id, as printed by `lab up` and `lab list`")
    .action(async (id: string | undefined) => {
      const client = await dockerClient();
      const ids = id === undefined ? (await listLabs(client)).map((summary) => summary.id) : [id];
      for (const labId of ids) await destroyLab(client, labId);
      io.out(ids.length === 0 ? "no labs\n" : `removed ${ids.join(", ")}\n`);
    });

  lab
    .command("list")
    .description("list labs and whether their owner is still running")
    .action(async () => {
      const labs = await listLabs(await dockerClient());
      io.out(
        `${renderTable(
          ["lab", "kind", "owner"],
          labs.map((summary) => [
            summary.id,
            summary.detached ? "detached" : "run",
            summary.ownerAlive ? "alive" : "gone (reaped at the next lab start)",
          ]),
        )}\n`,
      );
    });

  lab
    .command("image")
    .description("build the lab machine image now (otherwise it is built on first use)")
    .option("--rebuild", "build even when an image for the current recipe exists")
    .action(async (options: { rebuild?: boolean }) => {
      const tag = await ensureMachineImage(await dockerClient(), {
        rebuild: options.rebuild === true,
        onProgress: io.progress,
      });
      io.out(`${tag}\n`);
    });
}
