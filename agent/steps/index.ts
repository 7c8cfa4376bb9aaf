import { createRegistry, type StepRegistry } from "../runner/registry.js";
import { dockerInstallStep } from "./docker-install.js";
import { fetchArtifactsStep } from "./fetch-artifacts.js";
import { kernelModulesStep } from "./kernel-modules.js";
import { swapOffStep } from "./swap-off.js";
import { sysctlStep } from "./sysctl.js";

/** Every step this agent can run, in the catalog's order. */
export const ALL_STEPS = [
  swapOffStep,
  kernelModulesStep,
  sysctlStep,
  fetchArtifactsStep,
  dockerInstallStep,
] as const;

export function defaultRegistry(): StepRegistry {
  return createRegistry(ALL_STEPS);
}
