import { readFileSync } from "node:fs";
import path from "node:path";
import { fakeExec } from "./fake-exec.js";
import { fakeFs, symlink, type FakeTree } from "./fake-fs.js";

const fixtures = path.resolve(import.meta.dirname, "..", "fixtures");

/** sysfs entries of one PCI function: vendor, device and class files, and an optional driver link. */
export function pciFunction(
  address: string,
  fields: { vendor: string; device: string; class: string; driver?: string },
): FakeTree {
  const dir = `/sys/bus/pci/devices/${address}`;
  return {
    [`${dir}/vendor`]: `${fields.vendor}\n`,
    [`${dir}/device`]: `${fields.device}\n`,
    [`${dir}/class`]: `${fields.class}\n`,
    ...(fields.driver === undefined
      ? {}
      : { [`${dir}/driver`]: symlink(`../../../bus/pci/drivers/${fields.driver}`) }),
  };
}

/** An Ubuntu 22.04 GPU server as its files and commands show it; `extra` adds or overrides entries. */
export function fakeGpuServer(extra: FakeTree = {}) {
  const fs = fakeFs(
    {
      "/proc/sys/kernel/hostname": "gpu-worker-1\n",
      "/etc/machine-id": "0123456789abcdef0123456789abcdef\n",
      "/etc/os-release": [
        'PRETTY_NAME="Ubuntu 22.04.4 LTS"',
        'NAME="Ubuntu"',
        'VERSION_ID="22.04"',
        "VERSION_CODENAME=jammy",
        "ID=ubuntu",
        "ID_LIKE=debian",
        "",
      ].join("\n"),
      "/proc/sys/kernel/osrelease": "5.15.0-105-generic\n",
      "/proc/sys/kernel/version": "#115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024\n",
      "/proc/cpuinfo": [0, 1, 2, 3]
        .map((n) => `processor\t: ${n}\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\n`)
        .join("\n"),
      "/proc/meminfo":
        "MemTotal:       263845772 kB\nMemFree:         1000000 kB\nMemAvailable:   250000000 kB\n",
      "/sys/block/nvme0n1/size": "3750748848\n",
      "/sys/block/nvme0n1/queue/rotational": "0\n",
      "/sys/block/nvme0n1/removable": "0\n",
      "/sys/block/nvme0n1/device/model": "SAMSUNG MZQL23T8HCLS-00A07              \n",
      "/sys/block/loop0/size": "129024\n",
      "/proc/1/comm": "systemd\n",
      // sshd listening on 22 (IPv4 and IPv6), one established connection, dhclient's UDP 68.
      "/proc/net/tcp": [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1",
        "   1: 0B00000A:0016 0100000A:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1",
        "",
      ].join("\n"),
      "/proc/net/tcp6": [
        "  sl  local_address                         remote_address                        st",
        "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A",
        "",
      ].join("\n"),
      "/proc/net/udp": [
        "  sl  local_address rem_address   st",
        "   0: 00000000:0044 00000000:0000 07",
        "",
      ].join("\n"),
      "/run/systemd/system/.keep": "",
      "/var/lib/.keep": "",
      ...pciFunction("0000:00:02.0", {
        vendor: "0x8086",
        device: "0x4c8a",
        class: "0x030000",
        driver: "i915",
      }),
      ...pciFunction("0000:3b:00.0", {
        vendor: "0x10de",
        device: "0x20b5",
        class: "0x030200",
        driver: "nvidia",
      }),
      ...pciFunction("0000:3b:00.1", {
        vendor: "0x10de",
        device: "0x1aef",
        class: "0x040300",
        driver: "snd_hda_intel",
      }),
      ...extra,
    },
    {
      statfs: {
        "/": { totalBytes: 500 * 2 ** 30, availableBytes: 400 * 2 ** 30 },
        "/var/lib": { totalBytes: 3500 * 2 ** 30, availableBytes: 3000 * 2 ** 30 },
      },
    },
  );
  const exec = fakeExec({
    "uname -m": { stdout: "x86_64\n" },
    "ip -j address show": { stdout: readFileSync(path.join(fixtures, "ip-address.json"), "utf8") },
  });
  return { fs, exec };
}
