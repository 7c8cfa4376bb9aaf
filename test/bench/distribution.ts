import path from "node:path";
import { formatBytes } from "../../shared/format-bytes.js";
import { startLabFleet, uplinkOf, writeDebsLock, type Uplink } from "../support/lab-fleet.js";
import type { BenchOptions, BenchResult, Row } from "./report/types.js";

const SIZES = [1, 3, 6] as const;
const QUICK_SIZES = [1] as const;
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
 * before each run, so each `up` pays for the artifacts alone. Needs Docker
 * and `npm run build`; run it under the lab lock.
 */
export async function distribution(options: BenchOptions): Promise<BenchResult> {
  const sizes = options.quick ? QUICK_SIZES : SIZES;
  const measures: Measure[] = [];
  let bundleBytes = 0;
  for (const hosts of sizes) {
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
        measures.push({ hosts, mode, seconds, uplink });
        process.stderr.write(`distribution: ${hosts} host(s), ${mode}: ${seconds.toFixed(1)} s\n`);
      }
    } finally {
      await fleet.stop();
    }
  }
  return {
    benchmark: "distribution",
    title: `one bundle (${formatBytes(bundleBytes)}) to N lab hosts with \`up -b\`, depot vs direct`,
    rows: rowsOf(measures, bundleBytes),
    notes: [
      `Lab hosts are containers on the benchmark machine, so links run at loopback speed; bytes are what the provisioner sent (SSH plus artifacts over HTTPS), wall time is the whole \`up\`.`,
    ],
  };
}

function rowsOf(measures: readonly Measure[], bundleBytes: number): Row[] {
  const sent = (measure: Measure): number => measure.uplink.sshBytes + measure.uplink.artifactsOverHttps;
  return measures.map((measure) => {
    const depot = measures.find((other) => other.hosts === measure.hosts && other.mode === "depot");
    const ratios =
      measure.mode === "direct" && depot !== undefined
        ? [
            { name: "bytes direct / depot", value: sent(measure) / sent(depot) },
            { name: "time direct / depot", value: measure.seconds / depot.seconds },
          ]
        : [];
    return {
      case: `${measure.hosts} host(s), ${measure.mode}`,
      values: [
        { name: "wall time", value: measure.seconds, unit: "s", chart: true },
        { name: "provisioner sent", value: sent(measure), unit: "bytes", chart: true },
        {
          name: "of which artifacts",
          value: measure.uplink.artifactsOverSsh + measure.uplink.artifactsOverHttps,
          unit: "bytes",
        },
      ],
      ratios: [{ name: "sent / bundle", value: sent(measure) / bundleBytes }, ...ratios],
    };
  });
}

async function must<T extends { code: number; stdout: string; stderr: string }>(
  pending: Promise<T>,
): Promise<T> {
  const result = await pending;
  if (result.code !== 0)
    throw new Error(`command failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result;
}
