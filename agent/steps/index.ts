import { createRegistry, type StepRegistry } from "../runner/registry.js";
import { defaultRouteStep } from "./default-route.js";
import { dockerInstallStep } from "./docker-install.js";
import { dockerStaticStep } from "./docker-static.js";
import { fetchArtifactsStep } from "./fetch-artifacts.js";
import { firewallStep } from "./firewall.js";
import { gpuDriverStep } from "./gpu-driver.js";
import { gpuNouveauStep } from "./gpu-nouveau.js";
import { gpuToolkitStep } from "./gpu-toolkit.js";
import { k3sInstallStep } from "./k3s-install.js";
import { k3sManifestsStep } from "./k3s-manifests.js";
import { kernelModulesStep } from "./kernel-modules.js";
import { registryInstallStep } from "./registry-install.js";
import { registrySeedStep } from "./registry-seed.js";
import { swapOffStep } from "./swap-off.js";
import { sysctlStep } from "./sysctl.js";

/** Every step this agent can run, in the catalog's order. */
export const ALL_STEPS = [
  swapOffStep,
  kernelModulesStep,
  sysctlStep,
  firewallStep,
  defaultRouteStep,
  fetchArtifactsStep,
  registryInstallStep,
  registrySeedStep,
  dockerInstallStep,
  dockerStaticStep,
  gpuNouveauStep,
  gpuDriverStep,
  gpuToolkitStep,
  k3sInstallStep,
  k3sManifestsStep,
] as const;

export function defaultRegistry(): StepRegistry {
  return createRegistry(ALL_STEPS);
}
