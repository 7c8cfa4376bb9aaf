import { ClusterState } from "./cluster-state.js";
import { FatalError } from "./fatal.js";
import { hostAddresses } from "./host-info.js";
import { setUpHost } from "./host-setup.js";
import { NotReadyError } from "./join.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { info } from "./log.js";
import { heartbeatLoop, registration, retryUntilReady, waitForStop } from "./node-runtime.js";
import type { ServerOptions } from "./node-options.js";
import { nodePassword } from "./node-password.js";
import { probeNodeStatus } from "./node-status.js";
import { localObjectApi } from "./object-api.js";
import { ObjectStore } from "./object-store.js";
import type { Registries } from "./registries.js";
import { NODE_PASSWORD_REJECTED, seedHandler } from "./seed-api.js";
import { loadOrCreateCa, storedServerPassword, writeTokenFiles } from "./server-files.js";
import { stageManifests, startServerControllers } from "./server-controllers.js";
import { serveApi } from "./serving.js";
import { notifyReady } from "./systemd-notify.js";
import { caHashOf, parseToken, randomPassword } from "./token.js";

/**
 * The cluster's first server (no `server:` configured, or a datastore
 * already on disk, which makes `server:` and `cluster-init` moot, as in k3s).
 * Token rules: a configured token may be short, or secure with this CA's
 * hash (else fatal); with none configured the stored one is kept, or a
 * random one made; a configured token that differs from the stored one is
 * fatal ("bootstrap data already found and encrypted with different token").
 * Holds the datastore (nodes, objects), runs the deploy and helm controllers.
 * Runs until SIGTERM; resolves with the exit status.
 */
export async function runSeedServer(options: ServerOptions, registries: Registries): Promise<number> {
  const ca = await loadOrCreateCa(options.dataDir);
  const caHash = caHashOf(ca.certPem);
  const configured = options.token === undefined ? undefined : parseToken(options.token, "server");
  if (configured?.caHash !== undefined && configured.caHash !== caHash) {
    throw new FatalError(
      `token CA hash does not match the Cluster CA certificate hash: ${configured.caHash} != ${caHash}`,
    );
  }
  const stored = await storedServerPassword(options.dataDir);
  if (stored !== undefined && configured !== undefined && configured.password !== stored) {
    throw new FatalError(
      "starting kubernetes: preparing server: bootstrap data already found and encrypted with different token",
    );
  }
  const serverPassword = stored ?? configured?.password ?? randomPassword();
  const agent = options.agentToken === undefined ? undefined : parseToken(options.agentToken, "node");
  if (agent?.caHash !== undefined && agent.caHash !== caHash) {
    throw new FatalError(
      `agent token CA hash does not match the Cluster CA certificate hash: ${agent.caHash} != ${caHash}`,
    );
  }
  await writeTokenFiles(options.dataDir, caHash, serverPassword, agent?.password);

  const state = ClusterState.open(options.dataDir, options.clusterInit);
  const objects = ObjectStore.open(options.dataDir);
  info(
    state.embeddedEtcd
      ? "Managed etcd cluster initializing (test double: datastore file)"
      : "Configuring sqlite3 database (test double: datastore file)",
  );
  await writeKubeconfig(options.kubeconfigFile, {
    port: options.httpsPort,
    caPem: ca.certPem,
    token: state.adminToken,
    mode: options.kubeconfigMode,
  });
  info(`Wrote kubeconfig ${options.kubeconfigFile}`);
  await stageManifests(options);

  const password = await nodePassword();
  const server = await serveApi(
    options,
    ca,
    seedHandler({
      state,
      objects,
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      serverPassword,
      agentPassword: agent?.password,
    }),
  );
  const internalIp = options.nodeIp ?? hostAddresses()[0] ?? "127.0.0.1";
  const self = await registration("server", options, internalIp);
  await retryUntilReady(() => {
    if (state.register(options.nodeName, password, self) === "password-rejected") {
      return Promise.reject(new NotReadyError(NODE_PASSWORD_REJECTED));
    }
    return Promise.resolve();
  });
  const containerd = await setUpHost(options.dataDir, registries, options.disableDefaultRegistryEndpoint);
  const stopHeartbeats = heartbeatLoop(async () => {
    state.heartbeat(options.nodeName, password, await probeNodeStatus(options.dataDir));
  });
  const stopControllers = startServerControllers(options, localObjectApi(objects), objects);
  info("k3s is up and running");
  await notifyReady();

  const signal = await waitForStop();
  info(`Received ${signal}; shutting down`);
  stopHeartbeats();
  stopControllers();
  server.close();
  server.closeAllConnections();
  containerd?.close();
  return 0;
}
