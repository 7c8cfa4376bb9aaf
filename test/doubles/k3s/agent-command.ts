import { FatalError } from "./fatal.js";
import { setUpHost } from "./host-setup.js";
import { fetchClusterCa, registerNode, sendHeartbeat } from "./join.js";
import { info } from "./log.js";
import {
  heartbeatLoop,
  registration,
  reportHeartbeat,
  requireToken,
  retryUntilReady,
  waitForStop,
} from "./node-runtime.js";
import { nodeOptions } from "./node-options.js";
import { nodePassword } from "./node-password.js";
import { probeNodeStatus } from "./node-status.js";
import { loadRegistries } from "./registries.js";
import { Settings } from "./settings.js";
import { notifyReady } from "./systemd-notify.js";
import { parseToken } from "./token.js";
import { K3S_COMMIT, K3S_VERSION } from "./version.js";

/**
 * `k3s agent`: needs `token` and `server` (k3s's messages otherwise),
 * validates labels, taints and registries.yaml, then joins: checks the CA
 * against a secure token, registers with its node name, labels, taints,
 * address (node-ip, else its address towards the server) and node password.
 * A refused token is fatal (exit 1; systemd restarts it); an unreachable
 * server or a node-password conflict is retried every 5 s. Once joined it
 * sets up the host (images, containerd config, cni0, KUBE-FIREWALL) and
 * heartbeats every 5 s with its status (CPUs, memory, GPUs, runtimes) until SIGTERM.
 */
export async function runAgent(args: readonly string[]): Promise<number> {
  const settings = await Settings.load("agent", args, process.env);
  const options = await nodeOptions(settings);
  const token = parseToken(requireToken(options.token), "node");
  const server = options.serverUrl;
  if (server === undefined) throw new FatalError("--server is required");
  const registries = await loadRegistries(options.privateRegistry);
  info(`Starting k3s agent ${K3S_VERSION} (${K3S_COMMIT})`);
  const password = await nodePassword();
  const credentials = { token, nodeName: options.nodeName, nodePassword: password };
  const ca = await retryUntilReady(async () => {
    const fetched = await fetchClusterCa(server, token);
    const self = await registration("agent", options, options.nodeIp ?? fetched.localAddress);
    await registerNode(server, fetched.caCertPem, credentials, self);
    return fetched.caCertPem;
  });
  info(`Node ${options.nodeName} joined the cluster at ${server.origin}`);
  const containerd = await setUpHost(options.dataDir, registries, options.disableDefaultRegistryEndpoint);
  const stopHeartbeats = heartbeatLoop(async () => {
    const status = await probeNodeStatus(options.dataDir);
    reportHeartbeat(options.nodeName, await sendHeartbeat(server, ca, credentials, status));
  });
  info("k3s agent is up and running");
  await notifyReady();

  const signal = await waitForStop();
  info(`Received ${signal}; shutting down`);
  stopHeartbeats();
  containerd?.close();
  return 0;
}
