import { fakeExec, type FakeExec } from "./fake-exec.js";
import { directory, fakeFs, type FakeFs, type FakeTree } from "./fake-fs.js";
import { pciFunction } from "./fake-host.js";
import { fakeSystemd, type FakeSystemd } from "./fake-systemd.js";

export const KERNEL = "6.1.0-18-amd64";
export const CAS = "/var/lib/groundcrew/cas/sha256";
export const DRIVER_VERSION = "550.54.15";
const NVIDIA_PROC_VERSION = "/proc/driver/nvidia/version";
const PROC_VERSION_TEXT = `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${DRIVER_VERSION}  Tue Feb 20 21:28:14 UTC 2024\n`;
export const BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id";
export const CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml";

/** One .deb the fake dpkg knows: its artifact, package name, and the files installing it creates. */
export interface FakeDeb {
  readonly sha256: string;
  readonly name: string;
  readonly version: string;
  readonly kind: "deb" | "nvidia-toolkit";
  readonly files: readonly string[];
}

function deb(char: string, name: string, kind: FakeDeb["kind"], files: readonly string[]): FakeDeb {
  return { sha256: char.repeat(64), name, version: "1.0", kind, files };
}

/** The bundle's `nvidia` .debs: headers of the running kernel (own and common), dkms, and another kernel's headers. */
export const HEADER_DEBS = {
  own: deb("1", `linux-headers-${KERNEL}`, "deb", [`/usr/src/linux-headers-${KERNEL}/Makefile`]),
  common: deb("2", "linux-headers-6.1.0-18-common", "deb", [
    "/usr/src/linux-headers-6.1.0-18-common/Makefile",
  ]),
  dkms: deb("3", "dkms", "deb", ["/usr/sbin/dkms"]),
  other: deb("4", "linux-headers-6.1.0-20-amd64", "deb", ["/usr/src/linux-headers-6.1.0-20-amd64/Makefile"]),
} as const;

/** NVIDIA's four toolkit packages (G5). */
export const TOOLKIT_DEBS = [
  deb("5", "libnvidia-container1", "nvidia-toolkit", ["/usr/lib/x86_64-linux-gnu/libnvidia-container.so.1"]),
  deb("6", "libnvidia-container-tools", "nvidia-toolkit", ["/usr/bin/nvidia-container-cli"]),
  deb("7", "nvidia-container-toolkit-base", "nvidia-toolkit", [
    "/usr/bin/nvidia-ctk",
    "/usr/bin/nvidia-container-runtime",
    "/etc/nvidia-container-runtime/config.toml",
  ]),
  deb("8", "nvidia-container-toolkit", "nvidia-toolkit", ["/usr/bin/nvidia-container-runtime-hook"]),
] as const;

export const RUNFILE = {
  sha256: "9".repeat(64),
  size: 300,
  path: "nvidia/NVIDIA-Linux-x86_64-550.54.15.run",
};
export const RUNFILE_REF = { ...RUNFILE, kind: "nvidia-driver" as const };
/** What the runfile installs (a few of the real files). */
const DRIVER_FILES = ["/usr/bin/nvidia-smi", "/usr/bin/nvidia-uninstall", "/var/log/nvidia-installer.log"];
export const RUNFILE_ARGV = `sh ${CAS}/${RUNFILE.sha256} --silent --dkms --no-x-check --no-opengl-files`;

/** Directories every Debian host has: a package's files land in them, purging leaves them. */
const SYSTEM_DIRS = ["/usr/bin", "/usr/sbin", "/usr/src", "/usr/lib/x86_64-linux-gnu", "/var/log", "/etc"];

export function debRef(d: FakeDeb) {
  return { sha256: d.sha256, size: 100, path: `nvidia/${d.name}.deb`, kind: d.kind };
}

export interface GpuHostOptions {
  /** NVIDIA display functions in sysfs. Default 1. */
  readonly gpus?: number;
  /** Whether the kernel has a nouveau module, and whether it is loaded now. Default "loaded". */
  readonly nouveau?: "loaded" | "available" | "absent";
  /** A driver someone else installed: working (module loaded), or installed but not loaded. Default none. */
  readonly driver?: { readonly by: "runfile" | "package"; readonly loaded: boolean };
  /** The running kernel's headers are installed. Default false. */
  readonly headers?: boolean;
  /** Packages installed before groundcrew, by name. */
  readonly installed?: readonly string[];
  readonly extra?: FakeTree;
}

export interface FakeGpuHost {
  readonly fs: FakeFs;
  readonly exec: FakeExec;
  readonly systemd: FakeSystemd;
  readonly state: {
    nouveauLoaded: boolean;
    nvidiaLoaded: boolean;
    /** The initramfs holds the nouveau blacklist (update-initramfs ran while the file was there). */
    initramfsBlacklists: boolean;
    rebootsRequested: number;
    readonly installed: Set<string>;
  };
  /** The host comes back from a reboot: a new boot id, nouveau loaded unless the initramfs blacklists it, nvidia loaded when installed. */
  reboot(): Promise<void>;
}

/**
 * A Debian GPU host as the GPU steps see it: sysfs, /proc/modules and the
 * boot id; nvidia-smi answers from whether the driver is installed and
 * loaded; modinfo, modprobe, update-initramfs, `systemctl reboot` (recorded,
 * takes effect through `reboot()`), the runfile and nvidia-uninstall,
 * dpkg-deb/dpkg-query/dpkg --install/--purge for HEADER_DEBS and
 * TOOLKIT_DEBS (creating and deleting their files), and k3s, whose start
 * writes its containerd config with the nvidia runtime when
 * /usr/bin/nvidia-container-runtime exists.
 */
export function fakeGpuHost(options: GpuHostOptions = {}): FakeGpuHost {
  const nouveau = options.nouveau ?? "loaded";
  const gpus = options.gpus ?? 1;
  const driver = options.driver;
  const tree: Record<string, FakeTree[string]> = {
    "/proc/sys/kernel/osrelease": `${KERNEL}\n`,
    [BOOT_ID_FILE]: "0b5c1d5e-0000-4000-8000-000000000001\n",
    "/etc/modprobe.d": directory(),
    ...Object.fromEntries(SYSTEM_DIRS.map((dir) => [dir, directory()])),
    [`/lib/modules/${KERNEL}/modules.dep`]: "",
    ...(options.headers === true ? { [`/usr/src/linux-headers-${KERNEL}/Makefile`]: "" } : {}),
    ...(driver?.by === "runfile" ? Object.fromEntries(DRIVER_FILES.map((file) => [file, "elf"])) : {}),
    ...(driver?.by === "package" ? { "/usr/bin/nvidia-smi": "elf" } : {}),
    ...options.extra,
  };
  for (let i = 0; i < gpus; i += 1) {
    Object.assign(
      tree,
      pciFunction(`0000:${(0x3b + i).toString(16)}:00.0`, {
        vendor: "0x10de",
        device: "0x2335",
        class: "0x030200",
      }),
    );
  }
  const state = {
    nouveauLoaded: nouveau === "loaded",
    nvidiaLoaded: driver?.loaded === true,
    initramfsBlacklists: false,
    rebootsRequested: 0,
    installed: new Set(options.installed ?? []),
    driverInstalled: driver !== undefined,
  };
  const modulesText = () =>
    [
      "ext4 1044480 1 - Live 0x0000000000000000",
      ...(state.nouveauLoaded ? ["nouveau 2809856 0 - Live 0x0000000000000000"] : []),
      ...(state.nvidiaLoaded ? ["nvidia 56807424 0 - Live 0x0000000000000000"] : []),
      "",
    ].join("\n");
  const fs = fakeFs({
    ...tree,
    "/proc/modules": modulesText(),
    ...(state.nvidiaLoaded ? { [NVIDIA_PROC_VERSION]: PROC_VERSION_TEXT } : {}),
  });
  const inner = fakeExec();

  /** /proc/modules, and /proc/driver/nvidia/version while nvidia is loaded, as the state says. */
  const writeModules = async () => {
    if (state.nvidiaLoaded) {
      await fs.mkdirp("/proc/driver/nvidia", 0o555);
      await fs.writeFileAtomic(NVIDIA_PROC_VERSION, PROC_VERSION_TEXT, 0o444);
    } else await fs.remove("/proc/driver");
    await fs.writeFileAtomic("/proc/modules", modulesText(), 0o444);
  };
  const allDebs: readonly FakeDeb[] = [...Object.values(HEADER_DEBS), ...TOOLKIT_DEBS];

  inner.answer("nvidia-smi --query-gpu=name,driver_version --format=csv,noheader", () => {
    if (!state.driverInstalled) return new Error("spawn nvidia-smi ENOENT");
    if (!state.nvidiaLoaded) {
      return {
        code: 9,
        stdout:
          "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n",
      };
    }
    return { stdout: Array.from({ length: gpus }, () => `NVIDIA H200, ${DRIVER_VERSION}\n`).join("") };
  });
  inner.answer("modinfo -F filename nouveau", () =>
    nouveau === "absent"
      ? { code: 1, stderr: "modinfo: ERROR: Module nouveau not found.\n" }
      : { stdout: `/lib/modules/${KERNEL}/kernel/drivers/gpu/drm/nouveau/nouveau.ko.xz\n` },
  );
  inner.answer("update-initramfs -u", async () => {
    state.initramfsBlacklists =
      (await fs.readTextIfExists("/etc/modprobe.d/groundcrew-blacklist-nouveau.conf"))?.includes(
        "blacklist nouveau",
      ) === true;
    return { stdout: `update-initramfs: Generating /boot/initrd.img-${KERNEL}\n` };
  });
  inner.answer("systemctl reboot", () => {
    state.rebootsRequested += 1;
    return {};
  });
  inner.answer("modprobe nvidia", async () => {
    if (!state.driverInstalled)
      return {
        code: 1,
        stderr: `modprobe: FATAL: Module nvidia not found in directory /lib/modules/${KERNEL}\n`,
      };
    state.nvidiaLoaded = true;
    await writeModules();
    return {};
  });
  inner.answer("dpkg -S /usr/bin/nvidia-smi", () =>
    driver?.by === "package" && state.driverInstalled
      ? { stdout: "nvidia-utils-535-server: /usr/bin/nvidia-smi\n" }
      : { code: 1, stderr: "dpkg-query: no path found matching pattern /usr/bin/nvidia-smi\n" },
  );
  const runfile = async () => {
    if (state.nouveauLoaded)
      return { code: 1, stderr: "ERROR: The Nouveau kernel driver is currently in use\n" };
    if ((await fs.stat(`/usr/src/linux-headers-${KERNEL}`)) === undefined) {
      return {
        code: 1,
        stderr: "ERROR: Unable to find the kernel source tree for the currently running kernel.\n",
      };
    }
    for (const file of DRIVER_FILES) {
      await fs.mkdirp(file.slice(0, file.lastIndexOf("/")), 0o755);
      await fs.writeFileAtomic(file, "elf", 0o755);
    }
    state.driverInstalled = true;
    state.nvidiaLoaded = true;
    await writeModules();
    return {};
  };
  for (const flag of ["", " --kernel-module-type=open", " --kernel-module-type=proprietary"]) {
    inner.answer(`${RUNFILE_ARGV}${flag}`, runfile);
  }
  inner.answer("/usr/bin/nvidia-uninstall --silent", async () => {
    for (const file of DRIVER_FILES) await fs.remove(file);
    state.driverInstalled = false;
    state.nvidiaLoaded = false;
    await writeModules();
    return {};
  });
  inner.answer("nvidia-ctk --version", async () =>
    (await fs.stat("/usr/bin/nvidia-ctk")) === undefined
      ? new Error("spawn nvidia-ctk ENOENT")
      : { stdout: "NVIDIA Container Toolkit CLI version 1.17.4\n" },
  );
  for (const d of allDebs) {
    inner.answer(`dpkg-deb --field ${CAS}/${d.sha256} Package Version`, {
      stdout: `Package: ${d.name}\nVersion: ${d.version}\n`,
    });
  }

  // dpkg-query and dpkg take varying lists: answered here, recorded in the same call log.
  const exec: FakeExec = {
    calls: inner.calls,
    commandLines: () => inner.commandLines(),
    answer: (line, answer) => {
      inner.answer(line, answer);
    },
    async run(argv, runOptions) {
      const [program, first] = argv;
      if (program === "dpkg-query" && first === "-W") {
        inner.calls.push({ argv: [...argv], options: runOptions });
        const names = argv.slice(3).filter((name) => state.installed.has(name));
        return {
          code: names.length === argv.length - 3 ? 0 : 1,
          stdout: names.map((n) => `${n} ii  1.0`).join("\n"),
          stderr: "",
        };
      }
      if (program === "dpkg" && (first === "--install" || first === "--purge")) {
        inner.calls.push({ argv: [...argv], options: runOptions });
        const targets = allDebs.filter((d) =>
          first === "--install" ? argv.includes(`${CAS}/${d.sha256}`) : argv.includes(d.name),
        );
        for (const d of targets) {
          for (const file of d.files) {
            if (first === "--install") {
              await fs.mkdirp(file.slice(0, file.lastIndexOf("/")), 0o755);
              await fs.writeFileAtomic(file, d.name, 0o644);
            } else {
              await fs.remove(file);
              // dpkg removes the package's own directories once empty.
              const dir = file.slice(0, file.lastIndexOf("/"));
              if (!SYSTEM_DIRS.includes(dir) && (await fs.readDir(dir)).length === 0) await fs.remove(dir);
            }
          }
          if (first === "--install") state.installed.add(d.name);
          else state.installed.delete(d.name);
        }
        return { code: 0, stdout: "", stderr: "" };
      }
      return inner.run(argv, runOptions);
    },
  };

  const systemd = fakeSystemd(inner, fs, {
    "k3s.service": { start: () => startK3s() },
    "k3s-agent.service": { start: () => startK3s() },
  });
  const startK3s = async (): Promise<undefined> => {
    const nvidia = (await fs.stat("/usr/bin/nvidia-container-runtime")) !== undefined;
    await fs.mkdirp(CONTAINERD_CONFIG.slice(0, CONTAINERD_CONFIG.lastIndexOf("/")), 0o755);
    await fs.writeFileAtomic(
      CONTAINERD_CONFIG,
      [
        "# File generated by k3s. DO NOT EDIT.",
        "version = 3",
        ...(nvidia
          ? [
              "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'nvidia']",
              '  runtime_type = "io.containerd.runc.v2"',
            ]
          : []),
        "",
      ].join("\n"),
      0o600,
    );
    return undefined;
  };

  return {
    fs,
    exec,
    systemd,
    state,
    async reboot() {
      state.nvidiaLoaded = state.driverInstalled;
      state.nouveauLoaded = nouveau !== "absent" && !state.initramfsBlacklists && !state.driverInstalled;
      await fs.writeFileAtomic(
        BOOT_ID_FILE,
        `0b5c1d5e-0000-4000-8000-00000000000${state.rebootsRequested + 1}\n`,
        0o444,
      );
      await writeModules();
    },
  };
}

/** Starts k3s on the fake host as k3s.install would have (unit file, systemctl start). */
export async function startK3sUnit(
  host: FakeGpuHost,
  unit: "k3s.service" | "k3s-agent.service",
): Promise<void> {
  await host.fs.mkdirp("/etc/systemd/system", 0o755);
  await host.fs.writeFileAtomic(
    `/etc/systemd/system/${unit}`,
    "[Install]\nWantedBy=multi-user.target\n",
    0o644,
  );
  const result = await host.exec.run(["systemctl", "start", unit]);
  if (result.code !== 0) throw new Error(result.stderr);
}
