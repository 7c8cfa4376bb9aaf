import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { countCpuList, parseCpuinfo, readCpu } from "../../agent/facts/cpu.js";
import { readDisks } from "../../agent/facts/disks.js";
import { artifactArch } from "../../agent/facts/kernel.js";
import { parseMeminfo } from "../../agent/facts/memory.js";
import { parseIpAddressJson, readNetwork } from "../../agent/facts/network.js";
import { parseOsRelease, readOs } from "../../agent/facts/os-release.js";
import { readSpace } from "../../agent/facts/space.js";
import { isGroundcrewError } from "../../shared/errors.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { fakeFs } from "../fakes/fake-fs.js";

describe("os-release", () => {
  it("handles double quotes with escapes, single quotes, bare values and comments", () => {
    const fields = parseOsRelease(
      [
        "# comment",
        "",
        'PRETTY_NAME="Debian GNU/Linux 12 \\"bookworm\\" \\$x"',
        "NAME='Debian GNU/Linux'",
        "VERSION_ID=12",
        "not a field",
      ].join("\n"),
    );
    expect(fields.get("PRETTY_NAME")).toBe('Debian GNU/Linux 12 "bookworm" $x');
    expect(fields.get("NAME")).toBe("Debian GNU/Linux");
    expect(fields.get("VERSION_ID")).toBe("12");
    expect(fields.size).toBe(3);
  });

  it("falls back to /usr/lib/os-release, and leaves absent fields empty", async () => {
    const os = await readOs(
      fakeFs({ "/usr/lib/os-release": 'ID=debian\nPRETTY_NAME="Debian trixie/sid"\n' }),
    );
    expect(os).toEqual({ id: "debian", versionId: "", codename: "", prettyName: "Debian trixie/sid" });
  });
});

describe("cpu, memory, arch", () => {
  it("counts processors and reads the model from /proc/cpuinfo", () => {
    const text =
      "processor\t: 0\nmodel name\t: AMD EPYC 7763\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7763\n";
    expect(parseCpuinfo(text)).toEqual({ count: 2, model: "AMD EPYC 7763" });
    expect(parseCpuinfo("processor\t: 0\nCPU part\t: 0xd0c\n")).toEqual({ count: 1, model: "0xd0c" });
  });

  it("counts kernel CPU lists, and uses them when cpuinfo has no processors", async () => {
    expect(countCpuList("0-3,5,7-8\n")).toBe(7);
    expect(countCpuList("0")).toBe(1);
    expect(
      await readCpu(fakeFs({ "/proc/cpuinfo": "", "/sys/devices/system/cpu/online": "0-15\n" })),
    ).toEqual({
      count: 16,
      model: "",
    });
  });

  it("reads MemTotal and MemAvailable in bytes, and refuses a meminfo without MemTotal", () => {
    expect(parseMeminfo("MemTotal:        2048 kB\nMemFree:  100 kB\nMemAvailable:    1024 kB\n")).toEqual({
      totalBytes: 2048 * 1024,
      availableBytes: 1024 * 1024,
    });
    expect(parseMeminfo("MemTotal: 10 kB\nMemFree: 5 kB\n").availableBytes).toBe(5 * 1024);
    expect(() => parseMeminfo("MemFree: 1 kB\n")).toThrow(/MemTotal/);
  });

  it("maps machine names to artifact architectures", () => {
    expect(["x86_64", "aarch64", "armv7l", "riscv64"].map(artifactArch)).toEqual([
      "amd64",
      "arm64",
      "arm",
      "riscv64",
    ]);
  });
});

describe("disks and space", () => {
  it("lists real block devices with defaults for missing attributes, skipping loop/ram/zram", async () => {
    const fs = fakeFs({
      "/sys/block/sda/size": "1953525168\n",
      "/sys/block/sda/queue/rotational": "1\n",
      "/sys/block/sda/removable": "0\n",
      "/sys/block/sda/device/model": "ST1000DM010-2EP1\n",
      "/sys/block/vdb/size": "garbage\n",
      "/sys/block/loop3/size": "8\n",
      "/sys/block/ram0/size": "8\n",
      "/sys/block/zram0/size": "8\n",
    });
    expect(await readDisks(fs)).toEqual([
      {
        name: "sda",
        sizeBytes: 1953525168 * 512,
        rotational: true,
        removable: false,
        model: "ST1000DM010-2EP1",
      },
      { name: "vdb", sizeBytes: 0, rotational: false, removable: false, model: "" },
    ]);
    expect(await readDisks(fakeFs({}))).toEqual([]);
  });

  it("reports free space for / and /var/lib, leaving out a path that does not exist", async () => {
    const root = { totalBytes: 100, availableBytes: 40 };
    expect(await readSpace(fakeFs({ "/etc/hostname": "x" }, { statfs: { "/": root } }))).toEqual([
      { path: "/", ...root },
    ]);
  });
});

describe("network from `ip -j address show`", () => {
  const sample = readFileSync(new URL("../fixtures/ip-address.json", import.meta.url), "utf8");

  it("maps links and their inet/inet6 addresses", () => {
    const interfaces = parseIpAddressJson(sample);
    expect(interfaces.map((iface) => [iface.name, iface.up, iface.mtu])).toEqual([
      ["lo", true, 65536],
      ["eth0", true, 1500],
      ["eth1", false, 1500],
    ]);
    expect(interfaces[1]).toEqual({
      name: "eth0",
      mac: "52:54:00:12:34:56",
      up: true,
      mtu: 1500,
      addresses: [
        { family: "inet", address: "10.0.0.11", prefixLength: 24 },
        { family: "inet6", address: "fe80::5054:ff:fe12:3456", prefixLength: 64 },
      ],
    });
  });

  it("refuses output that is not JSON or not the expected shape, with a clear error", () => {
    const notJson = (): unknown => parseIpAddressJson('Object "-j" is unknown, try "ip help".');
    expect(notJson).toThrow(/did not print JSON/);
    expect(() => parseIpAddressJson('[{"ifname": 3}]')).toThrow(/at 0\.ifname/);
    try {
      notJson();
    } catch (error) {
      expect(isGroundcrewError(error, "FACTS_UNREADABLE")).toBe(true);
    }
  });

  it("names the command and its stderr when ip fails", async () => {
    const exec = fakeExec({ "ip -j address show": { code: 255, stderr: "Cannot open netlink socket\n" } });
    await expect(readNetwork(exec)).rejects.toThrow(/exited with 255: Cannot open netlink socket/);
  });
});
