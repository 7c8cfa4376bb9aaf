import { setUpHost } from "./host-setup.js";
import { fetchBootstrap, fetchClusterCa, registerNode, sendHeartbeat } from "./join.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { info } from "./log.js";
import { forwardingHandler } from "./forwarder.js";
import {
  heartbeatLoop,
  registration,
  reportHeartbeat,
  requireToken,
  retryUntilReady,
  waitForStop,
} from "./node-runtime.js";
import type { ServerOptions } from "./node-options.js";
import { nodePassword } from "./node-password.js";
import { probeNodeStatus } from "./node-status.js";
import { remoteObjectApi } from "./remote-object-api.js";
import type { Registries } from "./registries.js";
import { writeCa, writeTokenFiles } from "./server-files.js";
import { stageManifests, startServerControllers } from "./server-controllers.js";
import { serveApi } from "./serving.js";
import { notifyReady } from "./systemd-notify.js";
import { caHashOf, parseToken } from "./token.js";

/**
 * A server joining the cluster at `options.serverUrl` (HA): checks the CA
 * against the token, fetches the bootstrap data with the server token (a
 * refused token is fatal), writes the CA, token files and k3s.yaml as the
 * first server has them, serves 6443 itself (forwarding the node API and
 * joins to the server it joined, which holds the datastore), registers and
 * heartbeats. It re-joins on every start. Runs until SIGTERM.
 */
export async function runJoiningServer(
  options: ServerOptions,
  registries: Registries,
  seed: URL,
): Promise<number> {
  const token = parseToken(requireToken(options.token), "server");
  const password = await nodePassword();
  const { ca, bootstrap, localAddress } = await retryUntilReady(async () => {
    const fetched = await fetchClusterCa(seed, token);
    return {
      ca: fetched.caCertPem,
      localAddress: fetched.localAddress,
      bootstrap: await fetchBootstrap(seed, fetched.caCertPem, token),
    };
  });
  const caHash = caHashOf(ca);
  await writeCa(options.dataDir, { certPem: bootstrap.caCertPem, keyPem: bootstrap.caKeyPem });
  await writeTokenFiles(options.dataDir, caHash, bootstrap.serverPassword, bootstrap.agentPassword);
  await writeKubeconfig(options.kubeconfigFile, {
    port: options.httpsPort,
    caPem: bootstrap.caCertPem,
    token: bootstrap.adminToken,
    mode: options.kubeconfigMode,
  });
  info(`Joined the cluster at ${seed.origin}; wrote kubeconfig ${options.kubeconfigFile}`);
  // Every server, not only the first, keeps an auto-deploy manifests folder (k3s does not sync it).
  await stageManifests(options);
  const server = await serveApi(
    options,
    { certPem: bootstrap.caCertPem, keyPem: bootstrap.caKeyPem },
    forwardingHandler(seed, ca),
  );

  const credentials = { token, nodeName: options.nodeName, nodePassword: password };
  const self = await registration("server", options, options.nodeIp ?? localAddress);
  await retryUntilReady(() => registerNode(seed, ca, credentials, self));
  const containerd = await setUpHost(options.dataDir, registries, options.disableDefaultRegistryEndpoint);
  const stopHeartbeats = heartbeatLoop(async () => {
    const status = await probeNodeStatus(options.dataDir);
    reportHeartbeat(options.nodeName, await sendHeartbeat(seed, ca, credentials, status));
  });
  // Its deploy controller applies this server's manifests through the datastore's server.
  const stopControllers = startServerControllers(options, remoteObjectApi(seed, ca, bootstrap.adminToken));
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
