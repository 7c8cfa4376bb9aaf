import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import { mustRun, tryCommand } from "../runner/host-calls.js";
import { StepError } from "../runner/step-error.js";
import { K3S, unitName } from "./k3s-files.js";
import { waitFor } from "./registry-target.js";

/** The containerd config k3s generates at every start, with the runtimes it found on its PATH (G6). */
export const K3S_CONTAINERD_CONFIG = `${K3S.dataDir}/agent/etc/containerd/config.toml`;

/** The k3s units running now (k3s.service, k3s-agent.service), whoever installed them. Read-only. */
export async function runningK3sUnits(exec: Exec): Promise<string[]> {
  const units: string[] = [];
  for (const role of ["server", "agent"] as const) {
    const unit = unitName(role);
    if ((await tryCommand(exec, ["systemctl", "is-active", "--quiet", unit])).code === 0) units.push(unit);
  }
  return units;
}

/** Whether k3s's generated containerd config names the nvidia runtime (what `grep nvidia` on it shows). Read-only. */
export async function k3sHasNvidiaRuntime(fs: ReadonlyFs): Promise<boolean> {
  return ((await fs.readTextIfExists(K3S_CONTAINERD_CONFIG)) ?? "").includes("nvidia");
}

/**
 * k3s finds the NVIDIA runtime only when it starts: restarts each unit in
 * `units` (KillMode=process: running pods stay) so it regenerates its
 * containerd config. With `expectNvidia`, waits up to `timeoutMs` for the
 * config to name the nvidia runtime and throws NVIDIA_RUNTIME_MISSING naming
 * the file when it does not. Resolves the changes, for humans.
 */
export async function restartK3sForRuntime(
  exec: Exec,
  fs: ReadonlyFs,
  units: readonly string[],
  expectNvidia: boolean,
  timeoutMs: number,
): Promise<string[]> {
  const changes: string[] = [];
  for (const unit of units) {
    await mustRun(exec, ["systemctl", "restart", unit]);
    changes.push(`restarted ${unit} so that its containerd config is regenerated`);
  }
  if (expectNvidia && units.length > 0 && !(await waitFor(() => k3sHasNvidiaRuntime(fs), timeoutMs))) {
    throw new StepError(
      "NVIDIA_RUNTIME_MISSING",
      `${K3S_CONTAINERD_CONFIG} has no nvidia runtime ${Math.round(timeoutMs / 1000)} s after restarting ${units.join(", ")}: is nvidia-container-runtime on k3s's PATH (/usr/bin)?`,
      { context: { path: K3S_CONTAINERD_CONFIG } },
    );
  }
  return changes;
}
