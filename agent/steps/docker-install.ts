import { z } from "zod";
import { artifactRefSchema, HOST_CAS_DIR } from "../../shared/artifacts.js";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { holdsContent } from "../ledger/hash.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { withPackages, withTree } from "../ledger/record.js";
import { undoRecorded } from "../ledger/undo.js";
import { describeResult, mustRun, tryCommand } from "../runner/host-calls.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import { installedPackages, readDebs } from "./docker-packages.js";
import { removeDockerKernelState, removeRecordedGroups } from "./docker-leftovers.js";
import { dockerConfigFiles, dockerRegistrySchema, verifyWithImage } from "./docker-config.js";

const paramsSchema = z
  .object({
    /**
     * The Docker .debs (docker.io or docker-ce and their dependencies) in this
     * host's artifact store. Empty in a reset's plan: undo works from the ledger.
     */
    debs: z.array(artifactRefSchema).default([]),
    casDir: z.string().startsWith("/").default(HOST_CAS_DIR),
    /** The depot registry Docker pulls docker.io images through (daemon.json registry-mirrors). */
    registry: dockerRegistrySchema.optional(),
    /** An image of the bundle (seeded into the depot registry) that verify pulls and runs. */
    verifyImage: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/:[\]-]*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/)
      .optional(),
  })
  .strict();
type DockerParams = z.infer<typeof paramsSchema>;

/** Where Docker and its containerd keep state (containerd makes /etc/cni/net.d at start); each one the install creates is deleted by undo. */
const DATA_TREES = ["/var/lib/docker", "/var/lib/containerd", "/etc/docker", "/etc/cni"] as const;
const DOCKERD = ["/usr/bin/dockerd", "/usr/local/bin/dockerd", "/usr/sbin/dockerd"] as const;
const GROUP = "docker";

async function foreignDocker(fs: ReadonlyFs, ownPackages: readonly string[]): Promise<string | undefined> {
  if (ownPackages.length > 0) return undefined;
  for (const path of DOCKERD) if ((await fs.stat(path)) !== undefined) return path;
  return undefined;
}

async function dockerActive(exec: Exec): Promise<boolean> {
  return (await exec.run(["systemctl", "is-active", "--quiet", "docker.service"])).code === 0;
}

/** Docker config files (daemon.json, the registry's CA) that do not hold what they should. */
async function staleConfig(fs: ReadonlyFs, params: DockerParams): Promise<string[]> {
  const stale: string[] = [];
  for (const file of await dockerConfigFiles(fs, params.registry)) {
    if (!(await holdsContent(fs, file.path, file.content))) stale.push(file.path);
  }
  return stale;
}

/** The bundle's packages that are not installed at all: those groundcrew installs (and alone purges). */
async function missingDebs(exec: Exec, params: DockerParams) {
  const debs = await readDebs(
    exec,
    params.debs.map((deb) => deb.sha256),
    params.casDir,
  );
  const installed = await installedPackages(
    exec,
    debs.map((deb) => deb.name),
  );
  return { debs, missing: debs.filter((deb) => !installed.has(deb.name)) };
}

/**
 * D0/D1a: Docker from the bundle's .debs, no network. A Docker that was on
 * the host before groundcrew (dockerd present, no package recorded by this
 * step) is adopted as it is and never touched, not even by undo. Otherwise
 * the packages not yet installed are recorded, then installed with one
 * `dpkg -i` (dpkg orders them by dependency; a missing dependency fails with
 * dpkg's own message naming it), and docker is enabled and started. Packages
 * that were installed before are left as they are. Undo stops Docker, purges
 * exactly the recorded packages, deletes the data trees and the `docker`
 * group the install created.
 */
export const dockerInstallStep = defineStep({
  id: "docker.install",
  params: paramsSchema,
  probes: [
    ["dpkg-deb", "--field"],
    ["dpkg-query", "-W"],
    ["systemctl", "is-active"],
  ],
  title: (params) => `Install Docker from the bundle (${params.debs.length} package(s))`,

  async check({ exec, fs, ledger, params }) {
    const own = (await ledger.read())?.packages ?? [];
    const foreign = await foreignDocker(fs, own);
    if (foreign !== undefined) {
      return {
        done: true,
        reason: `Docker was already installed (${foreign}), not by groundcrew: adopted as it is, left alone by reset`,
      };
    }
    const { missing } = await missingDebs(exec, params);
    const active = await dockerActive(exec);
    const stale = await staleConfig(fs, params);
    if (missing.length === 0 && active && stale.length === 0)
      return { done: true, reason: "every Docker package is installed, configured, and docker is active" };
    const reasons = [
      ...(missing.length > 0 ? [`not installed: ${missing.map((deb) => deb.name).join(", ")}`] : []),
      ...stale.map((path) => `${path} is missing or differs`),
      ...(active ? [] : ["docker is not active"]),
    ];
    return { done: false, reason: reasons.join("; ") };
  },

  async apply({ exec, fs, ledger, params }) {
    const changes: string[] = [];
    const { missing } = await missingDebs(exec, params);
    if (missing.length > 0) {
      const absentTrees: string[] = [];
      for (const tree of DATA_TREES) if ((await fs.stat(tree)) === undefined) absentTrees.push(tree);
      const groupExisted = (await tryCommand(exec, ["getent", "group", GROUP])).code === 0;
      await ledger.update((record) => {
        let next = withPackages(
          record,
          missing.map((deb) => deb.name),
        );
        for (const tree of absentTrees) next = withTree(next, tree);
        return groupExisted || next.groups.includes(GROUP)
          ? next
          : { ...next, groups: [...next.groups, GROUP] };
      });
      await mustRun(exec, ["dpkg", "--install", "--force-confold", ...missing.map((deb) => deb.file)], {
        env: { DEBIAN_FRONTEND: "noninteractive" },
      });
      changes.push(`installed ${missing.map((deb) => `${deb.name} ${deb.version}`).join(", ")}`);
    }
    let configured = false;
    for (const file of await dockerConfigFiles(fs, params.registry)) {
      if (await writeOwnedFile({ fs, ledger }, file.path, file.content, file.mode)) {
        configured = true;
        changes.push(`wrote ${file.path}`);
      }
    }
    if (!(await dockerActive(exec))) {
      await mustRun(exec, ["systemctl", "enable", "--now", "docker.service"]);
      changes.push("started docker");
    } else if (configured) {
      await mustRun(exec, ["systemctl", "restart", "docker.service"]);
      changes.push("restarted docker for its new configuration");
    }
    return { changes };
  },

  async verify({ exec, log, params }) {
    if (!(await dockerActive(exec))) {
      throw new StepError("STEP_VERIFY_FAILED", "docker.service is not active after the install", {
        context: { unit: "docker.service" },
      });
    }
    const argv = ["docker", "version", "--format", "{{.Server.Version}}"] as const;
    const version = await tryCommand(exec, argv);
    if (version.code !== 0) {
      throw new StepError(
        "STEP_VERIFY_FAILED",
        `the Docker daemon does not answer: ${describeResult(argv, version)}`,
        {
          context: { unit: "docker.service" },
        },
      );
    }
    if (params.verifyImage !== undefined) log(await verifyWithImage(exec, params.verifyImage));
  },

  async undo({ exec, fs, ledger }) {
    const record = await ledger.read();
    if (record === undefined) return { changes: [] };
    const changes: string[] = [];
    if (record.packages.length > 0) {
      await tryCommand(exec, [
        "systemctl",
        "disable",
        "--now",
        "docker.service",
        "docker.socket",
        "containerd.service",
      ]);
      changes.push("stopped docker");
      changes.push(...(await removeDockerKernelState(exec)));
    }
    changes.push(...(await undoRecorded({ exec, fs, ledger })));
    changes.push(...(await removeRecordedGroups(exec, ledger, record)));
    return { changes };
  },
});
