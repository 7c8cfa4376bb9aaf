import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { FatalError, messageOf } from "./fatal.js";
import { defaultNodeName } from "./host-info.js";
import { DEFAULT_KUBECONFIG } from "./kubeconfig.js";
import { parseNodeLabels, parseTaints, type Taint } from "./labels.js";
import { DEFAULT_REGISTRIES_FILE } from "./registries.js";
import type { Settings } from "./settings.js";

export const DEFAULT_DATA_DIR = "/var/lib/rancher/k3s";

/** What `k3s agent` (and the agent half of `k3s server`) runs with. `token` is secret. */
export interface NodeOptions {
  readonly dataDir: string;
  readonly nodeName: string;
  readonly nodeIp: string | undefined;
  readonly nodeExternalIp: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly Taint[];
  readonly token: string | undefined;
  readonly serverUrl: URL | undefined;
  readonly privateRegistry: string;
  readonly disableDefaultRegistryEndpoint: boolean;
}

/** What `k3s server` runs with. `agentToken` is secret. */
export interface ServerOptions extends NodeOptions {
  readonly clusterInit: boolean;
  readonly agentToken: string | undefined;
  readonly tlsSans: readonly string[];
  readonly kubeconfigFile: string;
  readonly kubeconfigMode: number;
  readonly httpsPort: number;
  readonly bindAddress: string;
  readonly disable: readonly string[];
  /** default-local-storage-path (default `<data-dir>/storage`), for the packaged local-storage manifest. */
  readonly localStoragePath: string;
  /** system-default-registry ("" for none), prefixed to packaged images. */
  readonly systemDefaultRegistry: string;
  readonly disableHelmController: boolean;
}

/** Reads and checks the flags both roles have; bad labels, taints, IPs or URLs are FatalErrors. */
export async function nodeOptions(settings: Settings): Promise<NodeOptions> {
  const serverText = settings.string("server");
  return {
    dataDir: settings.string("data-dir") ?? DEFAULT_DATA_DIR,
    nodeName: (settings.string("node-name") ?? defaultNodeName()).toLowerCase(),
    nodeIp: address(settings.list("node-ip")[0], "--node-ip"),
    nodeExternalIp: address(settings.list("node-external-ip")[0], "--node-external-ip"),
    labels: parseNodeLabels(settings.list("node-label")),
    taints: parseTaints(settings.list("node-taint")),
    token: await secret(settings.string("token"), settings.string("token-file")),
    serverUrl: serverText === undefined || serverText === "" ? undefined : serverUrl(serverText),
    privateRegistry: settings.string("private-registry") ?? DEFAULT_REGISTRIES_FILE,
    disableDefaultRegistryEndpoint: settings.bool("disable-default-registry-endpoint"),
  };
}

export async function serverOptions(settings: Settings): Promise<ServerOptions> {
  const node = await nodeOptions(settings);
  const modeText = settings.string("write-kubeconfig-mode") ?? "0600";
  if (!/^[0-7]{1,4}$/.test(modeText))
    throw new FatalError(`invalid write-kubeconfig-mode "${modeText}": an octal file mode is expected`);
  const portText = settings.string("https-listen-port") ?? "6443";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new FatalError(`invalid https-listen-port "${portText}"`);
  return {
    ...node,
    clusterInit: settings.bool("cluster-init"),
    agentToken: await secret(settings.string("agent-token"), settings.string("agent-token-file")),
    tlsSans: settings.list("tls-san"),
    kubeconfigFile: settings.string("write-kubeconfig") ?? DEFAULT_KUBECONFIG,
    kubeconfigMode: parseInt(modeText, 8),
    httpsPort: port,
    bindAddress: settings.string("bind-address") ?? "0.0.0.0",
    disable: settings.list("disable"),
    localStoragePath: settings.string("default-local-storage-path") ?? `${node.dataDir}/storage`,
    systemDefaultRegistry: settings.string("system-default-registry") ?? "",
    disableHelmController: settings.bool("disable-helm-controller"),
  };
}

function address(text: string | undefined, flag: string): string | undefined {
  if (text === undefined || text === "") return undefined;
  if (isIP(text) === 0) throw new FatalError(`invalid ${flag} "${text}": not an IP address`);
  return text;
}

function serverUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FatalError(`invalid server url "${text}"`);
  }
  if (url.protocol !== "https:")
    throw new FatalError(`invalid server url "${text}": only https:// is supported`);
  return url;
}

async function secret(value: string | undefined, file: string | undefined): Promise<string | undefined> {
  if (value !== undefined && value !== "") return value;
  if (file === undefined || file === "") return undefined;
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (error) {
    throw new FatalError(`failed to read token file ${file}: ${messageOf(error)}`);
  }
}
