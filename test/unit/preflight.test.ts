import { describe, expect, it } from "vitest";
import type { HostFacts } from "../../shared/facts.js";
import { runPreflights } from "../../server/preflight/run-preflights.js";
import type { CheckResult, HostProbe, PreflightHost } from "../../server/preflight/types.js";
import { renderCheckReport } from "../../server/cli/render-check.js";
import { parseInventory } from "../../server/inventory/load.js";
import type { Inventory } from "../../server/inventory/types.js";
import { preflightHost } from "../../server/orchestrate/check-fleet.js";

function facts(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    schema: 1,
    agentVersion: "0.1.0",
    collectedAt: "2026-11-21T12:00:00.000Z",
    hostname: "node1",
    machineId: "11111111111111111111111111111111",
    os: { id: "ubuntu", versionId: "22.04", codename: "jammy", prettyName: "Ubuntu 22.04.4 LTS" },
    kernel: { release: "5.15.0", version: "#1" },
    machine: "x86_64",
    arch: "amd64",
    cpu: { count: 8, model: "x" },
    memory: { totalBytes: 16 * 2 ** 30, availableBytes: 12 * 2 ** 30 },
    disks: [],
    space: [
      { path: "/", totalBytes: 100e9, availableBytes: 50e9 },
      { path: "/var/lib", totalBytes: 100e9, availableBytes: 50e9 },
    ],
    network: [
      {
        name: "lo",
        mac: "",
        up: true,
        mtu: 65536,
        addresses: [{ family: "inet", address: "127.0.0.1", prefixLength: 8 }],
      },
      {
        name: "eth1",
        mac: "aa",
        up: true,
        mtu: 1500,
        addresses: [{ family: "inet", address: "10.0.0.5", prefixLength: 24 }],
      },
    ],
    gpus: [],
    systemd: { pid1: true, booted: true },
    listening: { tcp: [22], udp: [] },
    nfsMountHelper: null,
    installedSteps: [],
    ...overrides,
  };
}

const server: PreflightHost = { name: "master", role: "server", depot: true, iface: "eth1", gpu: false };
const worker: PreflightHost = { name: "worker2", role: "worker", depot: false, iface: "eth1", gpu: true };

function statusOf(results: CheckResult[], host: string, check: string): [string, string] {
  const found = results.find((result) => result.host === host && result.check === check);
  return [found?.status ?? "missing", found?.reason ?? ""];
}

const gpu = {
  pciAddress: "0000:3b:00.0",
  vendorId: "0x10de",
  deviceId: "0x20b5",
  classCode: "0x030200",
  driver: null,
};

describe("preflights", () => {
  it("passes healthy hosts on every check", () => {
    const probes = new Map<string, HostProbe>([
      [
        "master",
        { ok: true, facts: facts(), clockSkewMs: 300, agentPath: "/home/ops/.cache/groundcrew/agent/a" },
      ],
      [
        "worker2",
        {
          ok: true,
          facts: facts({ hostname: "node2", machineId: "2".repeat(32), gpus: [gpu] }),
          clockSkewMs: -900,
          agentPath: "/home/ops/.cache/groundcrew/agent/a",
        },
      ],
    ]);
    const results = runPreflights([server, worker], probes);
    expect(results).toHaveLength(2 * 16);
    expect(results.filter((result) => result.status !== "pass")).toEqual([]);
  });

  it("fails duplicate hostnames and machine-ids, naming the other host", () => {
    const same = facts();
    const probes = new Map<string, HostProbe>([
      ["master", { ok: true, facts: same, clockSkewMs: 0, agentPath: "/home/ops/.cache/groundcrew/agent/a" }],
      [
        "worker2",
        {
          ok: true,
          facts: { ...same, gpus: [gpu] },
          clockSkewMs: 0,
          agentPath: "/home/ops/.cache/groundcrew/agent/a",
        },
      ],
    ]);
    const results = runPreflights([server, worker], probes);
    expect(statusOf(results, "master", "hostname")).toEqual(["fail", "node1 is also on worker2"]);
    expect(statusOf(results, "worker2", "machine-id")[1]).toMatch(/also on master \(cloned image\?/);
  });

  it("fails small, wrong or misconfigured hosts with reasons a user can act on", () => {
    const bad = facts({
      os: { id: "centos", versionId: "7", codename: "", prettyName: "CentOS Linux 7" },
      arch: "riscv64",
      machine: "riscv64",
      cpu: { count: 1, model: "x" },
      memory: { totalBytes: 2 * 2 ** 30, availableBytes: 1 },
      space: [{ path: "/", totalBytes: 20e9, availableBytes: 5e9 }],
      network: [{ name: "eth0", mac: "", up: true, mtu: 1500, addresses: [] }],
      systemd: { pid1: false, booted: false },
      listening: { tcp: [6443, 22], udp: [8472] },
      machineId: "",
    });
    const results = runPreflights(
      [server],
      new Map([
        [
          "master",
          { ok: true, facts: bad, clockSkewMs: 120_000, agentPath: "/home/ops/.cache/groundcrew/agent/a" },
        ],
      ]),
    );
    expect(
      Object.fromEntries(results.filter((r) => r.status === "fail").map((r) => [r.check, r.reason])),
    ).toEqual({
      os: "CentOS Linux 7 is not supported (Ubuntu or Debian)",
      arch: "riscv64 is not supported (amd64 or arm64)",
      systemd: "systemd is not PID 1: the agent and k3s run as systemd units",
      cpu: "1 CPU(s); at least 2 needed",
      memory: "2.1 GB of memory; at least 4 GB needed",
      disk: "5.0 GB free in /; at least 10 GB needed",
      "machine-id": "no machine-id: run systemd-machine-id-setup",
      iface: "no interface eth1 (has eth0)",
      clock: "clock 120.0 s off the provisioner's: fix time sync (certificates would not validate)",
      ports: "in use: 6443/tcp (Kubernetes API), 8472/udp (flannel VXLAN)",
    });
  });

  it("warns on a GPU nobody asked for, an untested release and a few seconds of skew; fails a missing GPU", () => {
    const probes = new Map<string, HostProbe>([
      [
        "master",
        {
          ok: true,
          facts: facts({
            gpus: [gpu],
            os: { id: "ubuntu", versionId: "23.10", codename: "", prettyName: "Ubuntu 23.10" },
          }),
          clockSkewMs: 5_000,
          agentPath: "/home/ops/.cache/groundcrew/agent/a",
        },
      ],
      [
        "worker2",
        {
          ok: true,
          facts: facts({ hostname: "n2", machineId: "3".repeat(32) }),
          clockSkewMs: 0,
          agentPath: "/home/ops/.cache/groundcrew/agent/a",
        },
      ],
    ]);
    const results = runPreflights([server, worker], probes);
    expect(statusOf(results, "master", "gpu")[0]).toBe("warn");
    expect(statusOf(results, "master", "os")).toEqual([
      "warn",
      "Ubuntu 23.10: tested on ubuntu 20.04, 22.04, 24.04",
    ]);
    expect(statusOf(results, "master", "clock")[0]).toBe("warn");
    expect(statusOf(results, "worker2", "gpu")).toEqual([
      "fail",
      "the inventory says gpu: true but no NVIDIA display device is in sysfs",
    ]);
  });

  it("passes ports held by groundcrew's own k3s and registry (a re-run), and still fails a port someone else holds", () => {
    const listening = { tcp: [22, 6443, 2379, 2380, 10250, 5000], udp: [8472] };
    const probe = (installedSteps: string[]): Map<string, HostProbe> =>
      new Map([
        [
          "master",
          {
            ok: true,
            facts: facts({ listening, installedSteps }),
            clockSkewMs: 0,
            agentPath: "/home/ops/.cache/groundcrew/agent/a",
          },
        ],
      ]);
    expect(
      statusOf(runPreflights([server], probe(["k3s.install", "registry.install"])), "master", "ports"),
    ).toEqual(["pass", "all required ports free"]);
    // Only k3s is ours: the registry port is held by something else.
    expect(
      statusOf(runPreflights([server], probe(["host.sysctl", "k3s.install"])), "master", "ports"),
    ).toEqual(["fail", "in use: 5000/tcp (depot registry)"]);
    expect(statusOf(runPreflights([server], probe([])), "master", "ports")).toEqual([
      "fail",
      "in use: 6443/tcp (Kubernetes API), 2379/tcp (etcd client), 2380/tcp (etcd peer), 10250/tcp (kubelet), " +
        "8472/udp (flannel VXLAN), 5000/tcp (depot registry)",
    ]);
  });

  it("checks the depot registry's port the inventory sets, not the default", () => {
    const probes = new Map<string, HostProbe>([
      [
        "master",
        {
          ok: true,
          facts: facts({ listening: { tcp: [22, 5000, 5443], udp: [] }, installedSteps: [] }),
          clockSkewMs: 0,
          agentPath: "/home/ops/.cache/groundcrew/agent/a",
        },
      ],
    ]);
    expect(statusOf(runPreflights([{ ...server, registryPort: 5443 }], probes), "master", "ports")).toEqual([
      "fail",
      "in use: 5443/tcp (depot registry)",
    ]);
  });

  it("reports a failed sudo on sudo, and marks the checks after it not checked", () => {
    const probes = new Map<string, HostProbe>([
      ["master", { ok: false, failedAt: "sudo", reason: "sudo: a password is required" }],
    ]);
    const results = runPreflights([server], probes);
    expect(statusOf(results, "master", "reach")).toEqual(["pass", "SSH works"]);
    expect(statusOf(results, "master", "sudo")).toEqual(["fail", "sudo: a password is required"]);
    expect(statusOf(results, "master", "cpu")).toEqual(["fail", "not checked: sudo failed"]);
    const unreachable = runPreflights(
      [server],
      new Map([["master", { ok: false, failedAt: "reach", reason: "cannot reach 10.0.0.5:22" } as const]]),
    );
    expect(statusOf(unreachable, "master", "reach")).toEqual(["fail", "cannot reach 10.0.0.5:22"]);
    expect(statusOf(unreachable, "master", "sudo")).toEqual(["fail", "not checked: reach failed"]);
  });
});

describe("the NFS client preflight", () => {
  const probe = (nfsMountHelper: HostFacts["nfsMountHelper"], more: Partial<HostFacts> = {}): HostProbe => ({
    ok: true,
    facts: facts({ nfsMountHelper, ...more }),
    clockSkewMs: 0,
    agentPath: "/home/ops/.cache/groundcrew/agent/a",
  });

  it("fails every k3s host without mount.nfs when storage.nfs is set, naming the host and the fix", () => {
    const results = runPreflights(
      [
        { ...server, nfs: true },
        { ...worker, nfs: true },
      ],
      new Map<string, HostProbe>([
        ["master", probe("/usr/sbin/mount.nfs")],
        ["worker2", probe(null, { hostname: "n2", machineId: "2".repeat(32), gpus: [gpu] })],
      ]),
    );
    expect(statusOf(results, "master", "nfs")).toEqual(["pass", "NFS client /usr/sbin/mount.nfs"]);
    const failure =
      "storage.nfs is set but worker2 has no /sbin/mount.nfs or /usr/sbin/mount.nfs: kubelet mounts NFS " +
      "volumes with it. Install nfs-common on worker2 (apt-get install nfs-common, or its .debs with " +
      "dpkg --install where there is no package mirror) and run again";
    expect(statusOf(results, "worker2", "nfs")).toEqual(["fail", failure]);
    expect(results.filter((result) => result.status === "fail").map((result) => result.host)).toEqual([
      "worker2",
    ]);
    expect(renderCheckReport(["master", "worker2"], results)).toContain(`  FAIL worker2 nfs: ${failure}\n`);
  });

  it("passes a host with /sbin/mount.nfs, and any host when the inventory has no NFS storage", () => {
    expect(
      statusOf(
        runPreflights([{ ...server, nfs: true }], new Map([["master", probe("/sbin/mount.nfs")]])),
        "master",
        "nfs",
      ),
    ).toEqual(["pass", "NFS client /sbin/mount.nfs"]);
    expect(statusOf(runPreflights([server], new Map([["master", probe(null)]])), "master", "nfs")).toEqual([
      "pass",
      "no NFS storage in the inventory",
    ]);
  });

  it("is asked of every host exactly when the inventory has storage.nfs", () => {
    const inventory = (extra: string[]): Inventory =>
      parseInventory(
        ["hosts:", "  - {name: cp1, user: ops, role: server}", "  - {name: w1, user: ops}", ...extra].join(
          "\n",
        ),
        "/f.yaml",
        { fileExists: () => true, homeDir: "/home/op", env: {} },
      );
    const withNfs = inventory(["storage:", "  nfs: {server: 10.0.0.5, path: /x}"]);
    expect(withNfs.hosts.map((h) => preflightHost(h, withNfs).nfs)).toEqual([true, true]);
    const without = inventory([]);
    expect(without.hosts.map((h) => preflightHost(h, without).nfs)).toEqual([false, false]);
  });
});

describe("clock skew measurement", () => {
  it("counts only the offset the command's duration cannot explain", async () => {
    const { provenSkew } = await import("../../server/orchestrate/probe.js");
    expect(provenSkew(1_500, 2_000)).toBe(0);
    expect(provenSkew(-90_000, 1_000)).toBe(-89_000);
    expect(provenSkew(5_000, 0)).toBe(5_000);
  });
});
