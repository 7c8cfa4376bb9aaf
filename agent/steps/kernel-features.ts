import type { ReadonlyFs } from "../../shared/host-io.js";

/** A kernel module and how to tell that its feature is there, loaded or built in. */
export interface KernelModule {
  readonly name: string;
  /** Where the feature shows, for messages: "overlay in /proc/filesystems". */
  readonly evidence: string;
  /** Reads only. True when the feature is available, whether built in or loaded. */
  present(fs: ReadonlyFs): Promise<boolean>;
}

/** /sys/module/<name> exists for a loaded module (and for some built-in ones; not all). */
async function moduleDirectory(fs: ReadonlyFs, name: string): Promise<boolean> {
  return (await fs.stat(`/sys/module/${name}`))?.isDirectory === true;
}

export const OVERLAY: KernelModule = {
  name: "overlay",
  evidence: "overlay in /proc/filesystems",
  async present(fs) {
    const filesystems = (await fs.readTextIfExists("/proc/filesystems")) ?? "";
    const listed = filesystems.split("\n").some((line) => line.trim().split(/\s+/).at(-1) === "overlay");
    return listed || moduleDirectory(fs, "overlay");
  },
};

export const BR_NETFILTER: KernelModule = {
  name: "br_netfilter",
  evidence: "/proc/sys/net/bridge",
  async present(fs) {
    const bridge = (await fs.stat("/proc/sys/net/bridge"))?.isDirectory === true;
    return bridge || moduleDirectory(fs, "br_netfilter");
  },
};
