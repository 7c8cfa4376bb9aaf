import { directory, fakeFs, symlink, type FakeFs, type FakeTree } from "./fake-fs.js";
import { fakeExec, type FakeExec } from "./fake-exec.js";

/** How a fake host for the host-preparation steps starts out. */
export interface PrepHostOptions {
  /** /dev/sda2 is an active swap partition listed in /etc/fstab. Default true. */
  readonly swap?: boolean;
  /** systemd is PID 1 (swap units, masking). Default true. */
  readonly systemd?: boolean;
  /** modprobe can load modules. false: a kernel with none (the lab): modprobe fails. Default true. */
  readonly loadableModules?: boolean;
  /** Features compiled into the kernel, present from the start. Default none. */
  readonly builtIn?: { readonly overlay?: boolean; readonly brNetfilter?: boolean };
  /** Entries added to (or replacing) the host's tree. */
  readonly extra?: FakeTree;
}

export const PROC_SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
const SWAP_LINE = "/dev/sda2                               partition\t1998844\t\t0\t\t-2\n";
export const FSTAB = [
  "# /etc/fstab: static file system information.",
  "UUID=0a1b2c3d-0000-4000-8000-000000000001 /               ext4    errors=remount-ro 0       1",
  "UUID=0a1b2c3d-0000-4000-8000-000000000002 none            swap    sw              0       0",
  "",
].join("\n");

const BRIDGE_SYSCTLS = {
  "/proc/sys/net/bridge/bridge-nf-call-iptables": "0\n",
  "/proc/sys/net/bridge/bridge-nf-call-ip6tables": "0\n",
};

/**
 * A Debian host as the host-preparation steps see it, whose commands change
 * the fake file system as the real ones would: swapoff/swapon edit
 * /proc/swaps, modprobe makes /proc/filesystems or /proc/sys/net/bridge
 * appear, sysctl -p/-w write /proc/sys, systemctl mask/unmask add and remove
 * the /dev/null link in /etc/systemd/system.
 */
export function fakePrepHost(options: PrepHostOptions = {}): { fs: FakeFs; exec: FakeExec } {
  const swap = options.swap ?? true;
  const overlay = options.builtIn?.overlay === true;
  const brNetfilter = options.builtIn?.brNetfilter === true;
  const fs = fakeFs({
    "/etc/fstab": swap ? FSTAB : FSTAB.replace(/^.*swap.*\n/m, ""),
    "/etc/sysctl.d/99-sysctl.conf": symlink("../sysctl.conf"),
    "/etc/sysctl.conf": "# operator's file\n",
    "/proc/swaps": PROC_SWAPS_HEADER + (swap ? SWAP_LINE : ""),
    "/proc/filesystems": `nodev\tsysfs\nnodev\tproc\n\text4\n${overlay ? "nodev\toverlay\n" : ""}`,
    "/proc/sys/net/ipv4/ip_forward": "0\n",
    "/proc/sys/net/ipv6/conf/all/forwarding": "0\n",
    ...(brNetfilter ? BRIDGE_SYSCTLS : {}),
    ...(options.systemd === false ? {} : { "/run/systemd/system": directory(), "/proc/1/comm": "systemd\n" }),
    "/etc/systemd/system/multi-user.target.wants/ssh.service": symlink("/lib/systemd/system/ssh.service"),
    ...options.extra,
  });
  const exec = fakeExec();
  const write = (path: string, text: string) => fs.writeFileAtomic(path, text, 0o644);
  const swapUnitLink = "/etc/systemd/system/dev-sda2.swap";

  exec.answer("swapoff -a", () => write("/proc/swaps", PROC_SWAPS_HEADER).then(() => ({})));
  exec.answer("swapon -a", async () => {
    const fstab = await fs.readText("/etc/fstab");
    const active = fstab.split("\n").some((line) => !line.startsWith("#") && line.split(/\s+/)[2] === "swap");
    if (active) await write("/proc/swaps", PROC_SWAPS_HEADER + SWAP_LINE);
    return {};
  });
  exec.answer("systemctl list-units --type swap --state active --plain --no-legend --no-pager", async () => {
    const swaps = await fs.readText("/proc/swaps");
    return { stdout: swaps.includes("/dev/sda2") ? "dev-sda2.swap loaded active active /dev/sda2\n" : "" };
  });
  exec.answer("systemctl is-enabled dev-sda2.swap", async () =>
    (await fs.stat(swapUnitLink)) === undefined ? { stdout: "generated\n" } : { code: 1, stdout: "masked\n" },
  );
  exec.answer("systemctl mask dev-sda2.swap", async () => {
    await fs.mkdirp("/etc/systemd/system", 0o755);
    await write(swapUnitLink, "(link to /dev/null)");
    return { stderr: `Created symlink ${swapUnitLink} → /dev/null.\n` };
  });
  exec.answer("systemctl unmask dev-sda2.swap", () => fs.remove(swapUnitLink).then(() => ({})));
  exec.answer("systemctl daemon-reload", {});

  const modprobe = async (module: string, load: () => Promise<void>) => {
    if (options.loadableModules === false) {
      return {
        code: 1,
        stderr: `modprobe: FATAL: Module ${module} not found in directory /lib/modules/6.1.0-18-amd64\n`,
      };
    }
    await fs.mkdirp(`/sys/module/${module}`, 0o755);
    await load();
    return {};
  };
  exec.answer("modprobe overlay", () =>
    modprobe("overlay", async () => {
      if (!overlay)
        await write("/proc/filesystems", `${await fs.readText("/proc/filesystems")}nodev\toverlay\n`);
    }),
  );
  exec.answer("modprobe br_netfilter", () =>
    modprobe("br_netfilter", async () => {
      for (const [path, value] of Object.entries(BRIDGE_SYSCTLS)) {
        if ((await fs.stat(path)) === undefined) {
          await fs.mkdirp("/proc/sys/net/bridge", 0o555);
          await write(path, value);
        }
      }
    }),
  );

  const setSysctl = async (key: string, value: string): Promise<string | undefined> => {
    const path = `/proc/sys/${key.replaceAll(".", "/")}`;
    if ((await fs.stat(path)) === undefined)
      return `sysctl: cannot stat ${path}: No such file or directory\n`;
    await write(path, `${value}\n`);
    return undefined;
  };
  exec.answer("sysctl -p /etc/sysctl.d/90-groundcrew-k8s.conf", async (argv) => {
    const text = await fs.readText(argv[2] ?? "");
    let stderr = "";
    for (const line of text.split("\n")) {
      const match = /^\s*([^#;\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line);
      if (match?.[1] !== undefined && match[2] !== undefined)
        stderr += (await setSysctl(match[1], match[2])) ?? "";
    }
    return stderr === "" ? {} : { code: 255, stderr };
  });
  for (const key of [
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv6.conf.all.forwarding",
  ]) {
    for (const value of ["0", "1"]) {
      exec.answer(`sysctl -w ${key}=${value}`, async () => {
        const stderr = await setSysctl(key, value);
        return stderr === undefined ? { stdout: `${key} = ${value}\n` } : { code: 255, stderr };
      });
    }
  }
  return { fs, exec };
}
