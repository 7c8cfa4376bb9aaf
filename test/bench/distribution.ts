import os from "node:os";
import path from "node:path";
import { formatBytes } from "../../shared/format-bytes.js";
import { startLabFleet, uplinkOf, writeDebsLock, type Uplink } from "../support/lab-fleet.js";

const SIZES = [1, 3, 6] as const;
const PORT = "17470";

interface Measure {
  readonly hosts: number;
  readonly mode: "depot" | "direct";
  readonly seconds: number;
  readonly uplink: Uplink;
}

/**
 * Provisioner uplink and wall time of `up -b` delivering one bundle (the
 * fixture .debs, every host needing all of it) to N lab hosts, with a depot
 * (node1) and without one (every host fetches from the provisioner). The
 * agent is pushed by a `check` beforehand and every host's store is emptied
 * before each run, so each `up` pays for the artifacts alone.
 */
export async function distribution(): Promise<string> {
  const rows: Measure[] = [];
  let bundleBytes = 0;
  for (const hosts of SIZES) {
    const fleet = await startLabFleet(hosts);
    try {
      const lock = await writeDebsLock(path.join(fleet.work, "lab.lock.yaml"));
      bundleBytes = lock.bytes;
      const bundle = path.join(fleet.work, "lab.tar");
      await must(fleet.groundcrew("bundle", "build", "--lock", lock.file, "--out", bundle));
      for (const mode of ["depot", "direct"] as const) {
        const inventory = await fleet.writeInventory(`${mode}.yaml`, {
          depot: mode === "depot",
          installDocker: false,
        });
        await must(fleet.groundcrew("check", "-i", inventory));
        for (const machine of fleet.lab.machines) {
          await fleet.asRoot(machine.name, ["rm", "-rf", "/var/lib/groundcrew/cas"]);
        }
        const started = process.hrtime.bigint();
        const result = await must(
          fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT, "--json"),
        );
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const uplink = uplinkOf(result.stdout);
        if (uplink === undefined) throw new Error(`no uplink line in:\n${result.stdout}`);
        rows.push({ hosts, mode, seconds, uplink });
        process.stderr.write(`distribution: ${hosts} host(s), ${mode}: ${seconds.toFixed(1)} s\n`);
      }
    } finally {
      await fleet.stop();
    }
  }
  return render(rows, bundleBytes);
}

function render(rows: readonly Measure[], bundleBytes: number): string {
  const sent = (row: Measure): number => row.uplink.sshBytes + row.uplink.artifactsOverHttps;
  const lines = [
    `### Distribution: one bundle (${formatBytes(bundleBytes)}) to N hosts, depot vs direct`,
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} CPU(s), ${formatBytes(os.totalmem())} RAM, lab hosts on one machine (loopback-speed links).`,
    "",
    "| hosts | mode | wall time | provisioner sent | of which artifacts | sent / bundle | direct / depot (bytes) | direct / depot (time) |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const hosts of SIZES) {
    const depot = rows.find((row) => row.hosts === hosts && row.mode === "depot");
    const direct = rows.find((row) => row.hosts === hosts && row.mode === "direct");
    for (const row of [depot, direct]) {
      if (row === undefined) continue;
      const artifacts = row.uplink.artifactsOverSsh + row.uplink.artifactsOverHttps;
      const ratios =
        row.mode === "direct" && depot !== undefined
          ? [`${(sent(row) / sent(depot)).toFixed(2)}×`, `${(row.seconds / depot.seconds).toFixed(2)}×`]
          : ["", ""];
      lines.push(
        `| ${hosts} | ${row.mode} | ${row.seconds.toFixed(1)} s | ${formatBytes(sent(row))} | ${formatBytes(artifacts)} | ${(sent(row) / bundleBytes).toFixed(2)} | ${ratios.join(" | ")} |`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

async function must<T extends { code: number; stdout: string; stderr: string }>(
  pending: Promise<T>,
): Promise<T> {
  const result = await pending;
  if (result.code !== 0)
    throw new Error(`command failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result;
}
