import type { Exec, Fs } from "../../shared/host-io.js";
import { tryCommand } from "../runner/host-calls.js";
import { dropIptablesLines } from "./iptables-cleanup.js";
import { K3S } from "./k3s-files.js";

/** Interfaces k3s and flannel create (k3s-killall.sh removes the same). */
const K3S_LINKS = ["cni0", "flannel.1", "flannel-v6.1", "kube-ipvs0", "flannel-wg", "flannel-wg-v6"] as const;
/** Mounts k3s and the kubelet leave behind, by prefix. */
const MOUNT_PREFIXES = [
  "/run/k3s",
  "/var/lib/kubelet/pods",
  "/var/lib/kubelet/plugins",
  "/run/netns/cni-",
  K3S.dataDir,
];
/** iptables-save lines k3s, kube-proxy, CNI and flannel own. */
const RULE_PATTERN = /KUBE-|CNI-|flannel/i;

/** Processes running from k3s's data dir (containerd shims, pods' pause processes): killed like k3s-killall.sh does. */
async function killShims(exec: Exec, fs: Fs): Promise<number> {
  let killed = 0;
  for (const entry of await fs.readDir("/proc").catch((): string[] => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const exe = await fs.readLink(`/proc/${entry}/exe`).catch(() => "");
    if (exe.startsWith(`${K3S.dataDir}/data/`)) {
      await tryCommand(exec, ["kill", "-9", entry]);
      killed += 1;
    }
  }
  return killed;
}

async function unmountAll(exec: Exec, fs: Fs): Promise<number> {
  const table = (await fs.readTextIfExists("/proc/self/mounts")) ?? "";
  const points = table
    .split("\n")
    .map((line) => line.split(" ")[1]?.replace(/\\040/g, " "))
    .filter(
      (point): point is string => point !== undefined && MOUNT_PREFIXES.some((p) => point.startsWith(p)),
    )
    .sort((a, b) => b.length - a.length);
  for (const point of points) await tryCommand(exec, ["umount", "-f", point]);
  return points.length;
}

async function deleteLinks(exec: Exec, fs: Fs): Promise<string[]> {
  const deleted: string[] = [];
  const names: string[] = await fs.readDir("/sys/class/net").catch(() => []);
  // The pods' veth ends hang on cni0: remove them first.
  for (const name of names) {
    const master = await fs.readLink(`/sys/class/net/${name}/master`).catch(() => "");
    if (master.endsWith("/cni0") && (await tryCommand(exec, ["ip", "link", "delete", name])).code === 0) {
      deleted.push(name);
    }
  }
  for (const name of K3S_LINKS) {
    if (names.includes(name) && (await tryCommand(exec, ["ip", "link", "delete", name])).code === 0) {
      deleted.push(name);
    }
  }
  for (const ns of await fs.readDir("/run/netns").catch((): string[] => [])) {
    if (ns.startsWith("cni-") && (await tryCommand(exec, ["ip", "netns", "delete", ns])).code === 0) {
      deleted.push(`netns ${ns}`);
    }
  }
  return deleted;
}

/**
 * K9 (k3s-killall.sh): after the unit is stopped, what k3s leaves running
 * or configured in the kernel: shims and pods, mounts, CNI/flannel links and
 * network namespaces, and iptables rules. Best effort; resolves what it did.
 */
export async function cleanUpK3sRuntime(exec: Exec, fs: Fs): Promise<string[]> {
  const changes: string[] = [];
  const killed = await killShims(exec, fs);
  if (killed > 0) changes.push(`killed ${killed} process(es) left by k3s`);
  const unmounted = await unmountAll(exec, fs);
  if (unmounted > 0) changes.push(`unmounted ${unmounted} k3s/kubelet mount(s)`);
  const links = await deleteLinks(exec, fs);
  if (links.length > 0) changes.push(`deleted ${links.join(", ")}`);
  changes.push(...(await dropIptablesLines(exec, RULE_PATTERN, "k3s (KUBE-, CNI-, flannel)")));
  return changes;
}
