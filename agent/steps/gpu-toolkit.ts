import { z } from "zod";
import { artifactRefSchema, HOST_CAS_DIR } from "../../shared/artifacts.js";
import type { Exec } from "../../shared/host-io.js";
import { undoRecorded } from "../ledger/undo.js";
import { describeResult, tryCommand } from "../runner/host-calls.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import { bundleDebs, installRecordedDebs } from "./deb-install.js";
import {
  K3S_CONTAINERD_CONFIG,
  k3sHasNvidiaRuntime,
  restartK3sForRuntime,
  runningK3sUnits,
} from "./k3s-nvidia-runtime.js";

const paramsSchema = z
  .object({
    /**
     * The toolkit's .debs (nvidia-container-toolkit, nvidia-container-toolkit-base,
     * libnvidia-container-tools, libnvidia-container1, one version) in this
     * host's artifact store. Empty in a reset's plan: undo works from the ledger.
     */
    debs: z
      .array(artifactRefSchema.refine((ref) => ref.kind === "nvidia-toolkit", "an nvidia-toolkit artifact"))
      .default([]),
    casDir: z.string().startsWith("/").default(HOST_CAS_DIR),
    /** How long a restarted k3s may take to write the nvidia runtime into its containerd config. */
    runtimeTimeoutSec: z.number().int().min(1).max(3600).default(120),
  })
  .strict();
type ToolkitParams = z.infer<typeof paramsSchema>;

function missingPackages(exec: Exec, params: ToolkitParams) {
  return bundleDebs(
    exec,
    params.debs.map((deb) => deb.sha256),
    params.casDir,
  );
}

const LATE = `k3s runs without the nvidia runtime in ${K3S_CONTAINERD_CONFIG} (it detects the toolkit only when it starts)`;

/**
 * G5: the NVIDIA container toolkit from the bundle's .debs, BEFORE k3s starts
 * (k3s looks for nvidia-container-runtime only at start and writes it into
 * its generated containerd config; never `nvidia-ctk runtime configure`,
 * whose file k3s does not read). The packages not yet installed are
 * recorded, then installed with one dpkg call; packages that were there
 * before are left alone (all there: adopted). When k3s already runs (a late
 * toolkit) without the nvidia runtime, k3s is restarted and its config must
 * name nvidia. Undo purges exactly the recorded packages and restarts a
 * running k3s so it forgets the runtime.
 */
export const gpuToolkitStep = defineStep({
  id: "gpu.toolkit",
  params: paramsSchema,
  probes: [
    ["dpkg-deb", "--field"],
    ["dpkg-query", "-W"],
    ["systemctl", "is-active"],
  ],
  title: (params) =>
    `Install the NVIDIA container toolkit from the bundle (${params.debs.length} package(s))`,

  async check({ exec, fs, ledger, params }) {
    const { debs, missing } = await missingPackages(exec, params);
    const late = (await runningK3sUnits(exec)).length > 0 && !(await k3sHasNvidiaRuntime(fs));
    const reasons = [
      ...(missing.length > 0 ? [`not installed: ${missing.map((deb) => deb.name).join(", ")}`] : []),
      ...(late ? [LATE] : []),
    ];
    if (reasons.length > 0) return { done: false, reason: reasons.join("; ") };
    const ours = ((await ledger.read())?.packages.length ?? 0) > 0;
    const names = debs.map((deb) => deb.name).join(", ");
    return {
      done: true,
      reason: ours
        ? `the NVIDIA container toolkit is installed (${names})`
        : `the NVIDIA container toolkit was already installed (${names}), not by groundcrew: left alone by reset`,
    };
  },

  async apply({ exec, fs, ledger, log, params }) {
    const changes: string[] = [];
    const installed = await installRecordedDebs(exec, ledger, (await missingPackages(exec, params)).missing);
    if (installed !== undefined) changes.push(installed);
    const running = await runningK3sUnits(exec);
    if (running.length > 0 && !(await k3sHasNvidiaRuntime(fs))) {
      log(`${LATE}: restarting ${running.join(", ")}`);
      changes.push(...(await restartK3sForRuntime(exec, fs, running, true, params.runtimeTimeoutSec * 1000)));
    }
    return { changes };
  },

  async verify({ exec, fs, log, params }) {
    const { missing } = await missingPackages(exec, params);
    if (missing.length > 0) {
      throw new StepError(
        "STEP_VERIFY_FAILED",
        `not installed after dpkg: ${missing.map((deb) => deb.name).join(", ")}`,
        { context: { package: missing[0]?.name ?? "" } },
      );
    }
    const argv = ["nvidia-ctk", "--version"] as const;
    const version = await tryCommand(exec, argv);
    if (version.code !== 0) {
      throw new StepError(
        "STEP_VERIFY_FAILED",
        `the toolkit does not run: ${describeResult(argv, version)}`,
        {
          context: { command: argv.join(" ") },
        },
      );
    }
    log(version.stdout.trim().split("\n")[0] ?? "");
    if ((await runningK3sUnits(exec)).length > 0 && !(await k3sHasNvidiaRuntime(fs))) {
      throw new StepError("NVIDIA_RUNTIME_MISSING", `${K3S_CONTAINERD_CONFIG} has no nvidia runtime`, {
        context: { path: K3S_CONTAINERD_CONFIG },
      });
    }
  },

  async undo({ exec, fs, ledger, params }) {
    const purges = ((await ledger.read())?.packages.length ?? 0) > 0;
    const changes = await undoRecorded({ exec, fs, ledger });
    if (purges) {
      const running = await runningK3sUnits(exec);
      changes.push(
        ...(await restartK3sForRuntime(exec, fs, running, false, params.runtimeTimeoutSec * 1000)),
      );
    }
    return { changes };
  },
});
