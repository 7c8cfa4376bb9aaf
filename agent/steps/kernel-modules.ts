import { z } from "zod";
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { holdsContent } from "../ledger/hash.js";
import { writeOwnedFile } from "../ledger/owned-files.js";
import { undoRecorded } from "../ledger/undo.js";
import { describeResult, tryCommand } from "../runner/host-calls.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import { BR_NETFILTER, OVERLAY, type KernelModule } from "./kernel-features.js";

export const MODULES_FILE = "/etc/modules-load.d/groundcrew-k8s.conf";
const MODULES: readonly KernelModule[] = [OVERLAY, BR_NETFILTER];
export const MODULES_FILE_CONTENT = [
  "# Written by groundcrew (host.kernel-modules): loaded at boot for k3s and containerd.",
  ...MODULES.map((module) => module.name),
  "",
].join("\n");

async function absentModules(fs: ReadonlyFs): Promise<KernelModule[]> {
  const present = await Promise.all(MODULES.map((module) => module.present(fs)));
  return MODULES.filter((_, i) => present[i] !== true);
}

/**
 * Loads `module` unless its feature is already there (built in, as on kernels
 * without loadable modules, or loaded). A failing modprobe is an error only
 * when the feature is still absent afterwards: KERNEL_MODULE_UNAVAILABLE.
 * Resolves what it changed ("loaded br_netfilter"), or undefined.
 */
async function ensureModule(exec: Exec, fs: ReadonlyFs, module: KernelModule): Promise<string | undefined> {
  if (await module.present(fs)) return undefined;
  const argv = ["modprobe", module.name] as const;
  const result = await tryCommand(exec, argv);
  if (await module.present(fs)) return `loaded ${module.name}`;
  const attempt = result.code === 0 ? `\`${argv.join(" ")}\` succeeded` : describeResult(argv, result);
  throw new StepError(
    "KERNEL_MODULE_UNAVAILABLE",
    `${module.name} is not available: no ${module.evidence} and ${attempt}`,
    { context: { module: module.name, command: argv.join(" "), exitCode: result.code } },
  );
}

/**
 * H3: overlay and br_netfilter now and at boot. Done when
 * /etc/modules-load.d/groundcrew-k8s.conf holds the wanted content and both
 * features are present (built in counts). Undo deletes the file; loaded
 * modules stay until reboot.
 */
export const kernelModulesStep = defineStep({
  id: "host.kernel-modules",
  params: z.object({}).strict(),
  title: () => "Load overlay and br_netfilter (now and at boot)",

  async check({ fs }) {
    const [written, absent] = await Promise.all([
      holdsContent(fs, MODULES_FILE, MODULES_FILE_CONTENT),
      absentModules(fs),
    ]);
    const reasons = [
      ...(written ? [] : [`${MODULES_FILE} is missing or differs`]),
      ...absent.map((module) => `${module.name} is not available (no ${module.evidence})`),
    ];
    const done = reasons.length === 0;
    return {
      done,
      reason: done ? `${MODULES_FILE} is in place and both features are present` : reasons.join("; "),
    };
  },

  async apply({ exec, fs, ledger, log }) {
    const changes: string[] = [];
    if (await writeOwnedFile({ fs, ledger }, MODULES_FILE, MODULES_FILE_CONTENT, 0o644))
      changes.push(`wrote ${MODULES_FILE}`);
    for (const module of MODULES) {
      const change = await ensureModule(exec, fs, module);
      if (change === undefined) log(`${module.name}: already available (built in or loaded)`);
      else changes.push(change);
    }
    return { changes };
  },

  async verify({ fs }) {
    const absent = await absentModules(fs);
    const first = absent[0];
    if (first !== undefined) {
      throw new StepError(
        "KERNEL_MODULE_UNAVAILABLE",
        `${first.name} is not available: no ${first.evidence}`,
        {
          context: { module: first.name },
        },
      );
    }
    if (!(await holdsContent(fs, MODULES_FILE, MODULES_FILE_CONTENT))) {
      throw new StepError("STEP_VERIFY_FAILED", `${MODULES_FILE} does not hold the wanted module list`, {
        context: { path: MODULES_FILE },
      });
    }
  },

  async undo({ exec, fs, ledger, log }) {
    const changes = await undoRecorded({ exec, fs, ledger });
    log("loaded modules stay loaded until the next reboot");
    return { changes };
  },
});
