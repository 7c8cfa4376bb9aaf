import type { InventoryHost } from "../inventory/types.js";
import type { ArtifactEntry } from "./manifest.js";

/**
 * Whether `host` (of architecture `arch`, as its facts report it) needs an
 * artifact on its own disk. Per kind:
 * - k3s binary and airgap images: every host;
 * - Docker (static binaries, `deb` component docker): hosts with installDocker;
 * - the registry binary, `deb` component registry and image archives (seeded
 *   into the registry): the depot;
 * - NVIDIA driver and `deb` component nvidia: GPU hosts that install the
 *   driver; the container toolkit: every GPU host;
 * - Helm charts and manifests (k3s auto-deploy): servers;
 * - `deb` component host: every host;
 * - agent runtimes travel with the agent itself, never through the store.
 * Only artifacts of the host's architecture (or `all`) are needed.
 */
export function hostNeeds(host: InventoryHost, arch: string, artifact: ArtifactEntry): boolean {
  if (artifact.arch !== "all" && artifact.arch !== arch) return false;
  const { gpu, installDocker, installNvidiaDriver } = host.vars;
  switch (artifact.kind) {
    case "k3s-binary":
    case "k3s-images":
      return true;
    case "docker-static":
      return installDocker;
    case "registry":
    case "image-archive":
      return host.depot;
    case "nvidia-driver":
      return gpu && installNvidiaDriver;
    case "nvidia-toolkit":
      return gpu;
    case "helm-chart":
    case "manifest":
      return host.role === "server";
    case "agent-runtime":
      return false;
    case "deb":
      switch (artifact.component ?? "host") {
        case "docker":
          return installDocker;
        case "registry":
          return host.depot;
        case "nvidia":
          return gpu && installNvidiaDriver;
        case "host":
          return true;
      }
  }
}

/** The artifacts `host` needs, in manifest order. */
export function artifactsFor<T extends { readonly entry: ArtifactEntry }>(
  host: InventoryHost,
  arch: string,
  artifacts: readonly T[],
): T[] {
  return artifacts.filter((artifact) => hostNeeds(host, arch, artifact.entry));
}
