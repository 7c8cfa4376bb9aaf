import { ClusterState } from "./cluster-state.js";
import { runJoiningServer } from "./joining-server.js";
import { info } from "./log.js";
import { serverOptions } from "./node-options.js";
import { loadRegistries } from "./registries.js";
import { runSeedServer } from "./seed-server.js";
import { Settings } from "./settings.js";
import { K3S_COMMIT, K3S_VERSION } from "./version.js";

/**
 * `k3s server`: reads config (files, env, flags), validates labels, taints
 * and registries.yaml (any problem is fatal before anything is written),
 * then runs as the cluster's first server, or joins the one in `server:`
 * when no datastore exists here yet.
 */
export async function runServer(args: readonly string[]): Promise<number> {
  const settings = await Settings.load("server", args, process.env);
  const options = await serverOptions(settings);
  const registries = await loadRegistries(options.privateRegistry);
  info(`Starting k3s ${K3S_VERSION} (${K3S_COMMIT})`);
  if (options.serverUrl !== undefined && !ClusterState.exists(options.dataDir)) {
    return runJoiningServer(options, registries, options.serverUrl);
  }
  return runSeedServer(options, registries);
}
