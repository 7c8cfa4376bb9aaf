import path from "node:path";
import { z } from "zod";
import { artifactRefSchema, casPath, HOST_CAS_DIR } from "../../shared/artifacts.js";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { holdsContent } from "../ledger/hash.js";
import type { StepLedger } from "../ledger/ledger.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { undoRecorded } from "../ledger/undo.js";
import { describeResult, mustRun, tryCommand } from "../runner/host-calls.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import {
  dockerConfigFiles,
  dockerRegistrySchema,
  verifyImageSchema,
  verifyWithImage,
} from "./docker-config.js";
import { removeDockerKernelState, removeRecordedGroups } from "./docker-leftovers.js";
import {
  CONTAINERD_UNIT,
  DOCKER_UNIT,
  STATIC_BIN_DIR,
  staticUnits,
  UNIT_DIR,
} from "./docker-static-units.js";
import {
  binariesToInstall,
  foreignInstall,
  installBinaries,
  missingBinaries,
  recordAbsentPaths,
} from "./docker-static-binaries.js";

const paramsSchema = z
  .object({
    /** Docker's static tarball (`docker/<binary>` members) in this host's artifact store. A placeholder in a reset's plan: undo works from the ledger. */
    artifact: artifactRefSchema.refine((ref) => ref.kind === "docker-static", "a docker-static artifact"),
    casDir: z.string().startsWith("/").default(HOST_CAS_DIR),
    /** The depot registry Docker pulls docker.io images through (daemon.json registry-mirrors). */
    registry: dockerRegistrySchema.optional(),
    /** An image of the bundle (seeded into the depot registry) that verify pulls and runs. */
    verifyImage: verifyImageSchema.optional(),
  })
  .strict();
type StaticParams = z.infer<typeof paramsSchema>;

const UNITS = [CONTAINERD_UNIT, DOCKER_UNIT] as const;
const GROUP = "docker";

async function unitActive(exec: Exec, unit: string): Promise<boolean> {
  return (await tryCommand(exec, ["systemctl", "is-active", "--quiet", unit])).code === 0;
}

async function groupExists(exec: Exec, group: string = GROUP): Promise<boolean> {
  return (await tryCommand(exec, ["getent", "group", group])).code === 0;
}

/** Files (units, daemon.json, the registry's CA) that do not hold what they should, units first. */
async function staleFiles(fs: ReadonlyFs, params: StaticParams): Promise<string[]> {
  const stale: string[] = [];
  for (const file of [
    ...staticUnits(params.artifact.sha256),
    ...(await dockerConfigFiles(fs, params.registry)),
  ]) {
    if (!(await holdsContent(fs, file.path, file.content))) stale.push(file.path);
  }
  return stale;
}

/** Whether every binary is in place and both units name this tarball (so the binaries came from it). */
async function binariesCurrent(fs: ReadonlyFs, params: StaticParams): Promise<boolean> {
  if ((await missingBinaries(fs)).length > 0) return false;
  for (const unit of staticUnits(params.artifact.sha256)) {
    if (!(await holdsContent(fs, unit.path, unit.content))) return false;
  }
  return true;
}

/** Creates the `docker` group (dockerd gives it its socket) when missing, recording it first. */
async function ensureGroup(exec: Exec, ledger: StepLedger): Promise<string[]> {
  if (await groupExists(exec)) return [];
  await ledger.update((record) =>
    record.groups.includes(GROUP) ? record : { ...record, groups: [...record.groups, GROUP] },
  );
  await mustRun(exec, ["groupadd", "--system", GROUP]);
  return [`created group ${GROUP}`];
}

/** Enables both units and starts (or restarts) containerd, then docker. */
async function runUnits(exec: Exec, verb: "start" | "restart"): Promise<void> {
  for (const unit of UNITS) await mustRun(exec, ["systemctl", "enable", unit]);
  for (const unit of UNITS) await mustRun(exec, ["systemctl", verb, unit]);
}

/**
 * D0/D1b: Docker from the bundle's static tarball, no network. The binaries
 * go to /usr/local/bin, run by groundcrew's own containerd.service and
 * docker.service; the `docker` group is created when missing; daemon.json
 * and the registry's CA as for docker.install. A Docker or containerd that
 * groundcrew did not install (packaged, or a static binary or unit not in
 * this step's ledger) is adopted as it is: check reports done, apply and
 * undo leave it alone. Undo stops and disables both units, deletes docker0
 * and dockerd's iptables lines, then exactly what the ledger records (units,
 * config, binaries, the data trees and the group the install created).
 */
export const dockerStaticStep = defineStep({
  id: "docker.static",
  params: paramsSchema,
  probes: [
    ["systemctl", "is-active"],
    ["getent", "group"],
  ],
  title: (params) =>
    `Install Docker from the bundle's static binaries (${path.posix.basename(params.artifact.path)})`,

  async check({ exec, fs, ledger, params }) {
    const foreign = await foreignInstall(fs, await ledger.read());
    if (foreign !== undefined) {
      return {
        done: true,
        reason: `Docker or containerd was already installed (${foreign}), not by groundcrew: adopted as it is, left alone by reset`,
      };
    }
    const missing = await missingBinaries(fs);
    const reasons = [
      ...(missing.length > 0 ? [`not in ${STATIC_BIN_DIR}: ${missing.join(", ")}`] : []),
      ...(await staleFiles(fs, params)).map((file) => `${file} is missing or differs`),
      ...((await groupExists(exec)) ? [] : [`group ${GROUP} is missing`]),
    ];
    for (const unit of UNITS) if (!(await unitActive(exec, unit))) reasons.push(`${unit} is not active`);
    if (reasons.length === 0)
      return {
        done: true,
        reason: "Docker's static binaries are installed, configured, and docker is active",
      };
    return { done: false, reason: reasons.join("; ") };
  },

  async apply({ exec, fs, ledger, log, params }) {
    const foreign = await foreignInstall(fs, await ledger.read());
    if (foreign !== undefined) {
      log(`left the Docker or containerd that was already installed (${foreign}) alone`);
      return { changes: [] };
    }
    const changes: string[] = [];
    const current = await binariesCurrent(fs, params);
    if (!current) {
      // Docker's upgrade rule: stop every dockerd (and its containerd) before replacing the binaries.
      if ((await unitActive(exec, DOCKER_UNIT)) || (await unitActive(exec, CONTAINERD_UNIT))) {
        for (const unit of [...UNITS].reverse()) await mustRun(exec, ["systemctl", "stop", unit]);
        changes.push("stopped docker and containerd to replace their binaries");
      }
      const names = await binariesToInstall(fs, await ledger.read());
      await recordAbsentPaths(fs, ledger);
      await installBinaries(exec, casPath(params.artifact.sha256, params.casDir), names);
      changes.push(`installed ${names.join(", ")} in ${STATIC_BIN_DIR} from ${params.artifact.path}`);
    }
    changes.push(...(await ensureGroup(exec, ledger)));
    let configured = false;
    for (const file of [
      ...staticUnits(params.artifact.sha256),
      ...(await dockerConfigFiles(fs, params.registry)),
    ]) {
      if (await writeOwnedFile({ fs, ledger }, file.path, file.content, file.mode)) {
        configured = true;
        changes.push(`wrote ${file.path}`);
      }
    }
    if (!current) {
      await mustRun(exec, ["systemctl", "daemon-reload"]);
      await runUnits(exec, "restart");
      changes.push("started containerd and docker");
    } else if (!(await unitActive(exec, CONTAINERD_UNIT)) || !(await unitActive(exec, DOCKER_UNIT))) {
      await runUnits(exec, "start");
      changes.push("started containerd and docker");
    } else if (configured) {
      await mustRun(exec, ["systemctl", "restart", DOCKER_UNIT]);
      changes.push("restarted docker for its new configuration");
    }
    return { changes };
  },

  async verify({ exec, log, params }) {
    for (const unit of UNITS) {
      if (!(await unitActive(exec, unit))) {
        throw new StepError("STEP_VERIFY_FAILED", `${unit} is not active after the install`, {
          context: { unit },
        });
      }
    }
    const argv = ["docker", "version", "--format", "{{.Server.Version}}"] as const;
    const version = await tryCommand(exec, argv);
    if (version.code !== 0) {
      throw new StepError(
        "STEP_VERIFY_FAILED",
        `the Docker daemon does not answer: ${describeResult(argv, version)}`,
        {
          context: { unit: DOCKER_UNIT },
        },
      );
    }
    log(`Docker ${version.stdout.trim()} answers`);
    if (params.verifyImage !== undefined) log(await verifyWithImage(exec, params.verifyImage));
  },

  async undo({ exec, fs, ledger }) {
    const record = await ledger.read();
    if (record === undefined) return { changes: [] };
    const changes: string[] = [];
    const installed =
      record.trees.some((file) => file.startsWith(`${STATIC_BIN_DIR}/`)) ||
      record.files.some((file) => file.path.startsWith(`${UNIT_DIR}/`));
    if (installed) {
      for (const unit of [...UNITS].reverse())
        await tryCommand(exec, ["systemctl", "disable", "--now", unit]);
      changes.push("stopped and disabled docker and containerd");
      changes.push(...(await removeDockerKernelState(exec)));
    }
    changes.push(...(await undoRecorded({ exec, fs, ledger })));
    if (installed) await tryCommand(exec, ["systemctl", "daemon-reload"]);
    changes.push(...(await removeRecordedGroups(exec, ledger, record)));
    return { changes };
  },
});
