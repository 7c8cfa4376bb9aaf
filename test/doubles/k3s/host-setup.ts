import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { CONTAINERD_STATE_DIR, writeContainerdConfig } from "./containerd-config.js";
import { messageOf } from "./fatal.js";
import { writeFileAtomic } from "./files.js";
import { importImages } from "./images.js";
import { info, warn } from "./log.js";
import type { Registries } from "./registries.js";

const run = promisify(execFile);
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * What a k3s node leaves on a host besides its data dir, so that reset
 * tests have real traces to remove (what k3s-killall.sh / uninstall remove):
 *   /var/lib/kubelet/pods, /var/lib/cni, /run/flannel/subnet.env,
 *   /run/k3s/containerd/ with a listening containerd.sock (while running),
 *   <data-dir>/agent/etc/containerd/config.toml + certs.d/ (registries),
 *   <data-dir>/agent/containerd/containerd.log, the image import,
 *   a `cni0` bridge (up), and an iptables filter chain KUBE-FIREWALL with one
 *   rule, jumped to from INPUT.
 * The bridge and the chain are best effort: a failure is logged, not fatal.
 * Returns the containerd socket's server, to close on shutdown.
 */
export async function setUpHost(
  dataDir: string,
  registries: Registries,
  disableDefaultEndpoint: boolean,
): Promise<Server | undefined> {
  for (const dir of ["/var/lib/kubelet/pods", "/var/lib/cni/networks/cbr0", CONTAINERD_STATE_DIR]) {
    await mkdir(dir, { recursive: true });
  }
  await writeFileAtomic(
    "/run/flannel/subnet.env",
    "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.0.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    0o644,
  );
  await writeContainerdConfig(dataDir, registries, disableDefaultEndpoint);
  const containerdDir = path.join(dataDir, "agent", "containerd");
  await mkdir(containerdDir, { recursive: true });
  await writeFile(
    path.join(containerdDir, "containerd.log"),
    `time="${new Date().toISOString()}" level=info msg="containerd (k3s test double) started"\n`,
    { flag: "a" },
  );
  await importImages(dataDir);
  await createBridge();
  await createFirewallChain();
  return listenContainerdSocket();
}

async function ip(...args: string[]): Promise<void> {
  await run("ip", args, { env: { PATH } });
}

async function iptables(...args: string[]): Promise<boolean> {
  try {
    await run("iptables", ["-w", "5", ...args], { env: { PATH } });
    return true;
  } catch {
    return false;
  }
}

async function createBridge(): Promise<void> {
  try {
    const exists = await ip("link", "show", "cni0").then(
      () => true,
      () => false,
    );
    if (!exists) await ip("link", "add", "cni0", "type", "bridge");
    await ip("link", "set", "cni0", "up");
    info("Bridge cni0 is up");
  } catch (error) {
    warn(`Could not create bridge cni0 (continuing): ${messageOf(error).split("\n")[0] ?? ""}`);
  }
}

async function createFirewallChain(): Promise<void> {
  const rule = ["!", "-s", "127.0.0.0/8", "-d", "127.0.0.0/8", "-j", "DROP"];
  const ok =
    ((await iptables("-t", "filter", "-S", "KUBE-FIREWALL")) ||
      (await iptables("-t", "filter", "-N", "KUBE-FIREWALL"))) &&
    ((await iptables("-t", "filter", "-C", "KUBE-FIREWALL", ...rule)) ||
      (await iptables("-t", "filter", "-A", "KUBE-FIREWALL", ...rule))) &&
    ((await iptables("-t", "filter", "-C", "INPUT", "-j", "KUBE-FIREWALL")) ||
      (await iptables("-t", "filter", "-I", "INPUT", "-j", "KUBE-FIREWALL")));
  if (ok) info("iptables chain KUBE-FIREWALL is in place (filter table, jumped to from INPUT)");
  else warn("Could not set up iptables chain KUBE-FIREWALL (continuing)");
}

async function listenContainerdSocket(): Promise<Server | undefined> {
  const socket = path.join(CONTAINERD_STATE_DIR, "containerd.sock");
  await rm(socket, { force: true });
  return new Promise((resolve) => {
    const server = createServer((connection) => connection.destroy());
    server.once("error", (error) => {
      warn(`Could not listen on ${socket} (continuing): ${error.message}`);
      resolve(undefined);
    });
    server.listen(socket, () => {
      info(`containerd (test double) is listening on ${socket}`);
      resolve(server);
    });
  });
}
