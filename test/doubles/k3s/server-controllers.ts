import { DeployController, startDeployController } from "./deploy-controller.js";
import { startHelmController } from "./helm-controller.js";
import type { ServerOptions } from "./node-options.js";
import type { ObjectApi } from "./object-api.js";
import type { ObjectStore } from "./object-store.js";
import { stagePackagedManifests } from "./packaged-manifests.js";
import { serverPaths } from "./server-files.js";

/** Writes the packaged manifests into this server's auto-deploy folder (k3s does it at every start). */
export async function stageManifests(options: ServerOptions): Promise<void> {
  await stagePackagedManifests(serverPaths(options.dataDir).manifests, options.disable, {
    localStoragePath: options.localStoragePath,
    systemDefaultRegistry: options.systemDefaultRegistry,
  });
}

/**
 * Starts the controllers a k3s server runs: the deploy controller over its
 * own manifests folder (every server; objects through `api`), and on the
 * server holding the datastore (`store` given) the helm controller unless
 * `disable-helm-controller`. Returns a function that stops them.
 */
export function startServerControllers(
  options: ServerOptions,
  api: ObjectApi,
  store?: ObjectStore,
): () => void {
  const paths = serverPaths(options.dataDir);
  const stops = [startDeployController(new DeployController(paths.manifests, new Set(options.disable), api))];
  if (store !== undefined && !options.disableHelmController)
    stops.push(startHelmController(store, paths.staticDir));
  return () => {
    for (const stop of stops) stop();
  };
}
