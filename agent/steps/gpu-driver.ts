import { z } from "zod";
import { artifactRefSchema, casPath, HOST_CAS_DIR } from "../../shared/artifacts.js";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { readGpus } from "../facts/gpus.js";
import {
  describeGpus,
  describeOwner,
  driverOwner,
  kernelRelease,
  loadedModuleVersion,
  moduleLoaded,
  NVIDIA_PROC_VERSION,
  NVIDIA_SMI_QUERY,
  NVIDIA_UNINSTALL,
  queryNvidiaSmi,
} from "../facts/nvidia-driver.js";
import { withUninstaller } from "../ledger/record.js";
import { undoRecorded } from "../ledger/undo.js";
import { describeResult, tryCommand } from "../runner/host-calls.js";
import { defineStep, type StepContext } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import { bundleDebs, installRecordedDebs, type DebFile } from "./deb-install.js";
import { debsForKernel, headerDirs, headerKernels, headersPackage, headersPresent } from "./gpu-headers.js";

const INSTALLER_LOG = "/var/log/nvidia-installer.log";

const paramsSchema = z
  .object({
    /** NVIDIA's .run installer (NVIDIA-Linux-<arch>-<version>.run) in this host's artifact store. */
    runfile: artifactRefSchema.refine((ref) => ref.kind === "nvidia-driver", "an nvidia-driver artifact"),
    /** The bundle's `nvidia` .debs: kernel headers (and dkms, gcc, make) the build needs. */
    debs: z.array(artifactRefSchema).default([]),
    /** nvidia-installer's --kernel-module-type (R560+): open for Turing and newer, proprietary before. */
    kernelModuleType: z.enum(["open", "proprietary"]).optional(),
    casDir: z.string().startsWith("/").default(HOST_CAS_DIR),
  })
  .strict();
type DriverParams = z.infer<typeof paramsSchema>;

/** What building the driver on the running kernel takes: its headers, and the bundle packages to install. */
interface BuildNeeds {
  readonly release: string;
  readonly install: readonly DebFile[];
  /** Why the build cannot happen: no headers on the host nor in the bundle. */
  readonly problem?: string;
}

/** Read-only: the running kernel, whether it has headers, and which of the bundle's packages to install. */
async function buildNeeds(exec: Exec, fs: ReadonlyFs, params: DriverParams): Promise<BuildNeeds> {
  const release = await kernelRelease(fs);
  const { debs, missing } = await bundleDebs(
    exec,
    params.debs.map((deb) => deb.sha256),
    params.casDir,
  );
  const fit = new Set(debsForKernel(debs, release).map((deb) => deb.name));
  const install = missing.filter((deb) => fit.has(deb.name));
  if ((await headersPresent(fs, release)) || debs.some((deb) => deb.name === headersPackage(release))) {
    return { release, install };
  }
  const kernels = headerKernels(debs);
  const bundled = kernels.length === 0 ? "no kernel headers" : `headers for ${kernels.join(", ")} only`;
  return {
    release,
    install,
    problem: `the running kernel ${release} has no headers (${headerDirs(release).join(", ")}) and the bundle's nvidia packages have ${bundled}: add ${headersPackage(release)} to the bundle, or boot a kernel it has headers for`,
  };
}

/**
 * A driver installed by someone else that does not work: load its module
 * (installed but not loaded, G2); resolves the change when that made it
 * work (adopted, nothing recorded), throws NVIDIA_DRIVER_FOREIGN otherwise:
 * groundcrew never installs over another driver.
 */
async function adoptForeign(ctx: StepContext<DriverParams>): Promise<string | undefined> {
  const { exec, fs } = ctx;
  const owner = await driverOwner(exec, fs);
  if (owner.by === "none") return undefined;
  const modprobe = await tryCommand(exec, ["modprobe", "nvidia"]);
  const smi = await queryNvidiaSmi(exec);
  if (smi.ok) {
    return `loaded the nvidia module of the driver ${describeOwner(owner)} installed (${describeGpus(smi.gpus)}): adopted, left alone by reset`;
  }
  throw new StepError(
    "NVIDIA_DRIVER_FOREIGN",
    `an NVIDIA driver installed by ${describeOwner(owner)} is on this host but does not work (${smi.reason}; ${describeResult(["modprobe", "nvidia"], modprobe)}): groundcrew does not install over another driver; repair or uninstall it, or set installNvidiaDriver: false`,
    { context: { path: owner.evidence } },
  );
}

/** Runs the runfile; a failure names the installer's log. */
async function runInstaller(ctx: StepContext<DriverParams>): Promise<void> {
  const { params } = ctx;
  const argv = [
    "sh",
    casPath(params.runfile.sha256, params.casDir),
    "--silent",
    "--dkms",
    "--no-x-check",
    "--no-opengl-files",
    ...(params.kernelModuleType === undefined ? [] : [`--kernel-module-type=${params.kernelModuleType}`]),
  ] as const;
  const result = await tryCommand(ctx.exec, argv);
  if (result.code !== 0) {
    throw new StepError(
      "HOST_COMMAND_FAILED",
      `the NVIDIA installer ${params.runfile.path} failed: ${describeResult(argv, result)}; see ${INSTALLER_LOG}`,
      { context: { command: argv.join(" "), exitCode: result.code, path: INSTALLER_LOG } },
    );
  }
}

/**
 * G2/G4a: the NVIDIA driver. A working driver (nvidia-smi lists GPUs) that
 * groundcrew did not install is adopted as it is: nothing recorded, so
 * reset never touches it; one installed but not loaded is loaded and
 * adopted; one that stays broken is refused (NVIDIA_DRIVER_FOREIGN).
 * Otherwise the runfile builds it with DKMS for the running kernel
 * (`sh <runfile> --silent --dkms --no-x-check --no-opengl-files`), after the
 * bundle's `nvidia` packages that fit this kernel (headers, dkms, compiler)
 * are installed in one dpkg call; without headers on the host or in the
 * bundle it fails first with NVIDIA_HEADERS_MISSING, changing nothing.
 * nouveau must not be loaded (gpu.nouveau runs first). Verify: nvidia-smi
 * lists as many GPUs as sysfs shows. Undo: `nvidia-uninstall --silent` when
 * groundcrew ran the runfile, then purge the packages it installed.
 */
export const gpuDriverStep = defineStep({
  id: "gpu.driver",
  params: paramsSchema,
  probes: [[...NVIDIA_SMI_QUERY], ["dpkg", "-S"], ["dpkg-deb", "--field"], ["dpkg-query", "-W"]],
  title: (params) => `Install the NVIDIA driver from ${params.runfile.path}`,

  async check({ exec, fs, ledger, params }) {
    const smi = await queryNvidiaSmi(exec);
    if (smi.ok) {
      if (((await ledger.read())?.uninstallers.length ?? 0) > 0) {
        return {
          done: true,
          reason: `the NVIDIA driver groundcrew installed works: ${describeGpus(smi.gpus)}`,
        };
      }
      const owner = await driverOwner(exec, fs);
      const by = owner.by === "none" ? "" : ` by ${describeOwner(owner)}`;
      return {
        done: true,
        reason: `a working NVIDIA driver was already installed${by}, not by groundcrew: adopted as it is, left alone by reset (${describeGpus(smi.gpus)})`,
      };
    }
    const { problem } = await buildNeeds(exec, fs, params);
    const module = await loadedModuleVersion(fs);
    return {
      done: false,
      reason: [
        `no working NVIDIA driver (${smi.reason})`,
        ...(module === undefined
          ? []
          : [`the nvidia kernel module ${module} is loaded (${NVIDIA_PROC_VERSION})`]),
        ...(problem === undefined ? [] : [problem]),
      ].join("; "),
    };
  },

  async apply(ctx) {
    const { exec, fs, ledger, log, params } = ctx;
    if ((await queryNvidiaSmi(exec)).ok) return { changes: [] };
    if (await moduleLoaded(fs, "nouveau")) {
      throw new StepError(
        "NVIDIA_NOUVEAU_LOADED",
        "nouveau is loaded: the NVIDIA driver cannot load next to it; gpu.nouveau blacklists it and reboots (it runs before gpu.driver)",
        { context: { module: "nouveau" } },
      );
    }
    if (((await ledger.read())?.uninstallers.length ?? 0) === 0) {
      const adopted = await adoptForeign(ctx);
      if (adopted !== undefined) return { changes: [adopted] };
    }
    const needs = await buildNeeds(exec, fs, params);
    if (needs.problem !== undefined) {
      throw new StepError("NVIDIA_HEADERS_MISSING", needs.problem, { context: { kernel: needs.release } });
    }
    const changes: string[] = [];
    const installed = await installRecordedDebs(exec, ledger, needs.install);
    if (installed !== undefined) changes.push(installed);
    if (!(await headersPresent(fs, needs.release))) {
      throw new StepError(
        "NVIDIA_HEADERS_MISSING",
        `the running kernel ${needs.release} still has no headers (${headerDirs(needs.release).join(", ")}) after installing the bundle's packages`,
        { context: { kernel: needs.release } },
      );
    }
    await ledger.update((record) =>
      withUninstaller(record, {
        what: `the NVIDIA driver (${params.runfile.path})`,
        argv: [NVIDIA_UNINSTALL, "--silent"],
      }),
    );
    log(`building the NVIDIA driver for kernel ${needs.release} from ${params.runfile.path} (minutes)`);
    await runInstaller(ctx);
    changes.push(`installed the NVIDIA driver from ${params.runfile.path} for kernel ${needs.release}`);
    // nvidia-installer loads the module to test it; load it when it did not stay loaded.
    if (!(await queryNvidiaSmi(exec)).ok && (await tryCommand(exec, ["modprobe", "nvidia"])).code === 0) {
      changes.push("loaded the nvidia module");
    }
    return { changes };
  },

  async verify({ exec, fs, log }) {
    const smi = await queryNvidiaSmi(exec);
    if (!smi.ok) {
      throw new StepError(
        "NVIDIA_DRIVER_NOT_WORKING",
        `the NVIDIA driver does not work: ${smi.reason}; see ${INSTALLER_LOG}`,
        {
          context: { command: NVIDIA_SMI_QUERY.join(" ") },
        },
      );
    }
    const gpus = await readGpus(fs);
    if (smi.gpus.length < gpus.length) {
      throw new StepError(
        "NVIDIA_DRIVER_NOT_WORKING",
        `nvidia-smi lists ${smi.gpus.length} GPU(s) but sysfs has ${gpus.length} NVIDIA display function(s) (${gpus.map((gpu) => gpu.pciAddress).join(", ")})`,
        { context: { command: NVIDIA_SMI_QUERY.join(" ") } },
      );
    }
    log(`nvidia-smi: ${describeGpus(smi.gpus)}`);
  },

  async undo({ exec, fs, ledger }) {
    return { changes: await undoRecorded({ exec, fs, ledger }) };
  },
});
