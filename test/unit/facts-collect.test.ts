import { describe, expect, it } from "vitest";
import { collectFacts } from "../../agent/facts/collect.js";
import { hostFactsSchema, type HostFacts } from "../../shared/facts.js";
import { VERSION } from "../../shared/version.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { fakeGpuServer } from "../fakes/fake-host.js";

describe("collectFacts", () => {
  const now = (): Date => new Date("2026-11-21T12:00:00.000Z");

  it("produces exactly the expected document for the GPU server", async () => {
    const { fs, exec } = fakeGpuServer();
    const expected: HostFacts = {
      schema: 1,
      agentVersion: VERSION,
      collectedAt: "2026-11-21T12:00:00.000Z",
      hostname: "gpu-worker-1",
      machineId: "0123456789abcdef0123456789abcdef",
      os: { id: "ubuntu", versionId: "22.04", codename: "jammy", prettyName: "Ubuntu 22.04.4 LTS" },
      kernel: { release: "5.15.0-105-generic", version: "#115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024" },
      machine: "x86_64",
      arch: "amd64",
      cpu: { count: 4, model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz" },
      memory: { totalBytes: 263845772 * 1024, availableBytes: 250000000 * 1024 },
      disks: [
        {
          name: "nvme0n1",
          sizeBytes: 3750748848 * 512,
          rotational: false,
          removable: false,
          model: "SAMSUNG MZQL23T8HCLS-00A07",
        },
      ],
      space: [
        { path: "/", totalBytes: 500 * 2 ** 30, availableBytes: 400 * 2 ** 30 },
        { path: "/var/lib", totalBytes: 3500 * 2 ** 30, availableBytes: 3000 * 2 ** 30 },
      ],
      network: [
        {
          name: "lo",
          mac: "00:00:00:00:00:00",
          up: true,
          mtu: 65536,
          addresses: [
            { family: "inet", address: "127.0.0.1", prefixLength: 8 },
            { family: "inet6", address: "::1", prefixLength: 128 },
          ],
        },
        {
          name: "eth0",
          mac: "52:54:00:12:34:56",
          up: true,
          mtu: 1500,
          addresses: [
            { family: "inet", address: "10.0.0.11", prefixLength: 24 },
            { family: "inet6", address: "fe80::5054:ff:fe12:3456", prefixLength: 64 },
          ],
        },
        { name: "eth1", mac: "52:54:00:ab:cd:ef", up: false, mtu: 1500, addresses: [] },
      ],
      gpus: [
        {
          pciAddress: "0000:3b:00.0",
          vendorId: "0x10de",
          deviceId: "0x20b5",
          classCode: "0x030200",
          driver: "nvidia",
        },
      ],
      systemd: { pid1: true, booted: true },
      listening: { tcp: [22], udp: [68] },
      nfsMountHelper: null,
      installedSteps: [],
    };
    const facts = await collectFacts({ fs, exec, now });
    expect(facts).toEqual(expected);
    expect(hostFactsSchema.safeParse(facts).success).toBe(true);
  });

  it("fails with FACTS_UNREADABLE instead of emitting a partial document", async () => {
    const { fs } = fakeGpuServer();
    const exec = fakeExec({ "uname -m": { stdout: "x86_64\n" }, "ip -j address show": { stdout: "{}" } });
    await expect(collectFacts({ fs, exec, now })).rejects.toMatchObject({ code: "FACTS_UNREADABLE" });
  });

  it("only reads: the commands it runs are uname and ip, nothing else", async () => {
    const { fs, exec } = fakeGpuServer();
    await collectFacts({ fs, exec, now });
    expect(exec.commandLines().sort()).toEqual(["ip -j address show", "uname -m"]);
  });

  it("reports a host without systemd and without a machine-id", async () => {
    const { fs, exec } = fakeGpuServer({ "/proc/1/comm": "init\n", "/etc/machine-id": "" });
    const facts = await collectFacts({ fs, exec, now });
    expect(facts.systemd.pid1).toBe(false);
    expect(facts.machineId).toBe("");
  });
});
