import type { PlanStep } from "../../shared/protocol.js";
import { artifactRef } from "../bundle/manifest.js";
import type { BundleArtifact } from "../bundle/verified-bundle.js";
import type { InventoryHost } from "../inventory/types.js";

/**
 * The GPU stack of `host` (step catalog §5), placed before k3s.install:
 * on a host with `gpu`, when it also has `installNvidiaDriver`, nouveau
 * blacklisted (gpu.nouveau, may reboot) and the driver from the bundle's
 * runfile with its `nvidia` .debs (gpu.driver); on every GPU host the
 * container toolkit (gpu.toolkit), which must be there before k3s starts.
 * `artifacts` are the host's own (bundle/needs.ts already filtered them).
 * A part whose artifacts the bundle lacks is left out and named in `skipped`.
 * A host without `gpu` gets nothing.
 */
export function gpuSteps(
  host: InventoryHost,
  artifacts: readonly BundleArtifact[],
): { steps: PlanStep[]; skipped: string[] } {
  const steps: PlanStep[] = [];
  const skipped: string[] = [];
  if (!host.vars.gpu) return { steps, skipped };
  if (host.vars.installNvidiaDriver) {
    const runfile = artifacts.find((a) => a.entry.kind === "nvidia-driver");
    if (runfile === undefined)
      skipped.push("the NVIDIA driver (the bundle has no driver runfile for this host)");
    else {
      const debs = artifacts.filter((a) => a.entry.kind === "deb" && a.entry.component === "nvidia");
      steps.push(
        {
          id: "gpu.nouveau",
          title: "Blacklist nouveau for the NVIDIA driver (reboots when nouveau is loaded)",
          params: {},
        },
        {
          id: "gpu.driver",
          title: `Install the NVIDIA driver ${runfile.entry.version} from the bundle`,
          params: { runfile: artifactRef(runfile.entry), debs: debs.map((a) => artifactRef(a.entry)) },
        },
      );
    }
  }
  const toolkit = artifacts.filter((a) => a.entry.kind === "nvidia-toolkit");
  if (toolkit.length === 0) {
    skipped.push("the NVIDIA container toolkit (the bundle has no nvidia-toolkit packages for this host)");
  } else {
    steps.push({
      id: "gpu.toolkit",
      title: `Install the NVIDIA container toolkit from the bundle (${toolkit.length} package(s))`,
      params: { debs: toolkit.map((a) => artifactRef(a.entry)) },
    });
  }
  return { steps, skipped };
}
