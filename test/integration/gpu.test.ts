import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseNodeList } from "../../agent/steps/k3s-nodes.js";
import { RESET_ALLOWED, snapshotDiff, snapshotHost } from "../support/host-snapshot.js";
import { startLabFleet, type LabFleet } from "../support/lab-fleet.js";
import {
  gpuTestBundle,
  NVIDIA_DRIVER_VERSION,
  RUNFILE_NAME,
  type GpuBundle,
} from "../support/nvidia-doubles.js";

/**
 * The GPU stack (gpu.nouveau, gpu.driver, gpu.toolkit) on real lab machines,
 * with test doubles for NVIDIA's programs (test/doubles/nvidia/): node1 is
 * server and depot without GPU, node2 a worker with `gpu: true` whose sysfs
 * shows one NVIDIA 3D controller (a tmpfs over /sys/bus/pci/devices, made
 * here). The bundle has the runfile double, the four toolkit packages and the
 * running kernel's headers (deb component nvidia) and NVIDIA's device plugin image.
 */

const PCI_DEVICES = "/sys/bus/pci/devices";
const FAKE_GPU = "0000:65:00.0";
const CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml";
const MANIFESTS = "/var/lib/rancher/k3s/server/manifests";

/** One NVIDIA H200-like PCI function (vendor 0x10de, class 3D controller) in a tmpfs over sysfs's device list. */
const MOUNT_FAKE_GPU = [
  "set -e",
  `mountpoint -q ${PCI_DEVICES} || mount -t tmpfs -o mode=0755,size=1m groundcrew-fake-pci ${PCI_DEVICES}`,
  `mkdir -p ${PCI_DEVICES}/${FAKE_GPU}`,
  `cd ${PCI_DEVICES}/${FAKE_GPU}`,
  "echo 0x10de > vendor",
  "echo 0x2335 > device",
  "echo 0x030200 > class",
].join("\n");

async function snapshot(fleet: LabFleet, host: string): Promise<string[]> {
  return snapshotHost(fleet, host, RESET_ALLOWED);
}

/** The position in `text` of host's first line matching `pattern` (-1 when none). */
function at(text: string, host: string, pattern: string): number {
  return text.search(new RegExp(`${host} +#\\d+ ${pattern}`));
}

describe("a GPU worker: NVIDIA driver, headers and container toolkit from the bundle before k3s", () => {
  const PORT = "17453";
  let fleet: LabFleet;
  let inventory: string;
  let bundle: GpuBundle;
  let release: string;
  let before: Map<string, string[]>;

  beforeAll(async () => {
    fleet = await startLabFleet(2);
    release = (await fleet.asRoot("node2", ["cat", "/proc/sys/kernel/osrelease"])).trim();
    bundle = await gpuTestBundle(path.join(fleet.work, "bundle"), release);
    await fleet.asRoot("node2", ["sh", "-c", MOUNT_FAKE_GPU]);
    const [n1, n2] = fleet.lab.machines;
    inventory = await fleet.writeYamlInventory("gpu.yaml", [
      "hosts:",
      `  - {name: node1, address: ${n1?.address}, role: server, depot: true}`,
      `  - {name: node2, address: ${n2?.address}, role: worker, gpu: true, installNvidiaDriver: true}`,
    ]);
    // Taken with the fake GPU mounted, as reset will find the host (sysfs is not in the snapshot).
    before = new Map([
      ["node1", await snapshot(fleet, "node1")],
      ["node2", await snapshot(fleet, "node2")],
    ]);
  });

  afterAll(async () => {
    await fleet
      .asRoot("node2", ["sh", "-c", `! mountpoint -q ${PCI_DEVICES} || umount ${PCI_DEVICES}`])
      .catch(() => undefined);
    await fleet.stop();
  });

  it("the lab host looks like a GPU host without a driver: check finds the GPU, nvidia-smi is absent", async () => {
    const check = await fleet.groundcrew("check", "-i", inventory);
    // The report's table: one row per host, one column per check.
    const rows = check.stdout.split("\n").map((line) => line.trim().split(/\s+/));
    const column = rows.find((row) => row[0] === "host")?.indexOf("gpu") ?? -1;
    expect(column, check.stdout + check.stderr).toBeGreaterThan(0);
    expect(rows.find((row) => row[0] === "node2")?.[column], check.stdout).toBe("ok");
    expect(rows.find((row) => row[0] === "node1")?.[column], check.stdout).toBe("ok");
    expect(await fleet.asRoot("node2", ["sh", "-c", "command -v nvidia-smi || echo none"])).toBe("none\n");
    // No /proc/modules in the lab kernel: nouveau reads as not loaded, and no module to blacklist.
    expect(await fleet.asRoot("node2", ["sh", "-c", "test -e /proc/modules && echo yes || echo no"])).toBe(
      "no\n",
    );
  });

  it("up: headers, driver and toolkit on node2 before k3s starts; k3s finds the nvidia runtime", async () => {
    const up = await fleet.groundcrew("up", "-i", inventory, "-b", bundle.file, "--port", PORT);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const out = up.stdout;
    // gpu.nouveau: this kernel has no nouveau module (no /lib/modules): nothing to blacklist.
    expect(out).toMatch(/node2 +#\d+ gpu\.nouveau skipped: this kernel has no nouveau module/);
    expect(out).toMatch(
      new RegExp(
        `node2 +#\\d+ gpu\\.driver succeeded in [\\d.]+ s: .*linux-headers-${release.replace(/[.+]/g, "\\$&")}.*installed the NVIDIA driver from nvidia/${RUNFILE_NAME.replace(/\./g, "\\.")} for kernel`,
      ),
    );
    expect(out).toMatch(/node2 +#\d+ gpu\.toolkit succeeded/);
    // Order: driver, then toolkit, then k3s.install starts.
    const driverDone = at(out, "node2", "gpu\\.driver succeeded");
    const toolkitDone = at(out, "node2", "gpu\\.toolkit succeeded");
    const k3sStart = at(out, "node2", "\\[\\d+/\\d+\\] k3s\\.install:");
    expect(driverDone).toBeGreaterThan(-1);
    expect(toolkitDone).toBeGreaterThan(driverDone);
    expect(k3sStart).toBeGreaterThan(toolkitDone);
    // The same order in the journal.
    const logs = await fleet.groundcrew("logs", "node2");
    expect(logs.code, logs.stderr).toBe(0);
    const journalToolkit = logs.stdout.search(/gpu\.toolkit succeeded/);
    const journalK3s = logs.stdout.search(/\[\d+\/\d+\] k3s\.install:/);
    expect(journalToolkit).toBeGreaterThan(-1);
    expect(journalK3s).toBeGreaterThan(journalToolkit);
    // The final verification: the device plugin runs on node2, which offers its GPU to the scheduler.
    expect(up.stdout).toMatch(/^gpu +node2 +1 GPU +nvidia\.com\/gpu allocatable$/m);
    expect(up.stdout).toMatch(/cluster: ready, 2 node\(s\)/);

    // The runfile ran (its log), the headers came from the bundle, nvidia-smi works.
    expect(
      await fleet.asRoot("node2", ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]),
    ).toBe(`NVIDIA H200, ${NVIDIA_DRIVER_VERSION}\n`);
    expect(await fleet.asRoot("node2", ["nvidia-smi"])).toContain(FAKE_GPU);
    const log = await fleet.asRoot("node2", ["cat", "/var/log/nvidia-installer.log"]);
    expect(log).toContain("nvidia-installer --silent --dkms --no-x-check --no-opengl-files");
    expect(log).toContain(`Kernel source path: '/usr/src/linux-headers-${release}'`);
    expect(await fleet.asRoot("node2", ["dpkg-query", "-W", "-f", "${Status}", bundle.headers.name])).toBe(
      "install ok installed",
    );
    const toolkit = await fleet.asRoot("node2", [
      "dpkg-query",
      "-W",
      "-f",
      "${Package} ${Version} ${Status}\\n",
      ...bundle.toolkit.map((deb) => deb.name),
    ]);
    for (const deb of bundle.toolkit)
      expect(toolkit).toContain(`${deb.name} ${deb.version} install ok installed`);
    expect(await fleet.asRoot("node2", ["nvidia-ctk", "--version"])).toMatch(
      /NVIDIA Container Toolkit CLI version/,
    );

    // k3s (the double, like k3s) found nvidia-container-runtime at start.
    const containerd = await fleet.asRoot("node2", ["cat", CONTAINERD_CONFIG]);
    expect(containerd).toContain(`[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes."nvidia"]`);
    expect(containerd).toContain('BinaryName = "/usr/bin/nvidia-container-runtime"');
    expect(await fleet.asRoot("node1", ["cat", CONTAINERD_CONFIG])).not.toContain("nvidia");

    // The GPU node is labelled for the device plugin's node selector.
    const list = parseNodeList(
      await fleet.asRoot("node1", ["/usr/local/bin/k3s", "kubectl", "get", "nodes", "-o", "json"]),
    );
    const node2 = list?.items.find((node) => node.metadata.name === "node2");
    expect(node2?.metadata.labels["nvidia.com/gpu.present"]).toBe("true");
    const node1 = list?.items.find((node) => node.metadata.name === "node1");
    expect(node1?.metadata.labels["nvidia.com/gpu.present"]).toBeUndefined();

    // The server got the nvidia RuntimeClass and the device plugin; node2 reports the GPU allocatable.
    const manifests = await fleet.asRoot("node1", ["ls", MANIFESTS]);
    expect(manifests).toContain("groundcrew-nvidia-runtimeclass.yaml");
    expect(manifests).toContain("groundcrew-nvidia-device-plugin.yaml");
    expect(node2?.status.allocatable["nvidia.com/gpu"]).toBe("1");
    expect(node1?.status.allocatable["nvidia.com/gpu"]).toBeUndefined();
    expect(await fleet.asRoot("node1", ["cat", `${MANIFESTS}/groundcrew-nvidia-runtimeclass.yaml`])).toMatch(
      /kind: RuntimeClass[\s\S]*handler: nvidia/,
    );
  });

  it("up again changes nothing: every step is skipped", async () => {
    const again = await fleet.groundcrew("up", "-i", inventory, "-b", bundle.file, "--port", PORT);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/#\d+ (?!run )\S+ succeeded/);
    expect(again.stdout).toMatch(
      /node2 +#\d+ gpu\.driver skipped: the NVIDIA driver groundcrew installed works/,
    );
    expect(again.stdout).toMatch(
      /node2 +#\d+ gpu\.toolkit skipped: the NVIDIA container toolkit is installed/,
    );
    expect(again.stdout).toMatch(/node2 +#\d+ k3s\.install skipped/);
  });

  it("reset removes the toolkit, the driver (nvidia-uninstall) and the headers: every host as it was", async () => {
    const reset = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    expect(await fleet.asRoot("node2", ["sh", "-c", "ls /usr/bin/nvidia-* 2>/dev/null || echo none"])).toBe(
      "none\n",
    );
    expect(
      await fleet.asRoot("node2", [
        "sh",
        "-c",
        `test -e /usr/src/linux-headers-${release} && echo yes || echo no`,
      ]),
    ).toBe("no\n");
    for (const host of ["node1", "node2"]) {
      const { added, removed } = snapshotDiff(before.get(host) ?? [], await snapshot(fleet, host));
      expect(added, `${host}: left behind`).toEqual([]);
      expect(removed, `${host}: removed`).toEqual([]);
    }
  });
});

describe("a late toolkit: k3s already runs on the GPU worker when the toolkit arrives", () => {
  const PORT = "17454";
  let fleet: LabFleet;
  let inventory: string;
  let before: string[];

  beforeAll(async () => {
    fleet = await startLabFleet(2);
    await fleet.asRoot("node2", ["sh", "-c", MOUNT_FAKE_GPU]);
    const [n1, n2] = fleet.lab.machines;
    inventory = await fleet.writeYamlInventory("gpu.yaml", [
      "hosts:",
      `  - {name: node1, address: ${n1?.address}, role: server, depot: true}`,
      `  - {name: node2, address: ${n2?.address}, role: worker, gpu: true, installNvidiaDriver: true}`,
    ]);
    before = await snapshot(fleet, "node2");
  });

  afterAll(async () => {
    await fleet
      .asRoot("node2", ["sh", "-c", `! mountpoint -q ${PCI_DEVICES} || umount ${PCI_DEVICES}`])
      .catch(() => undefined);
    await fleet.stop();
  });

  it("k3s is restarted when the toolkit comes after it, and then names the nvidia runtime; reset leaves no trace", async () => {
    const release = (await fleet.asRoot("node2", ["cat", "/proc/sys/kernel/osrelease"])).trim();
    // Without the toolkit the device plugin could not run: the early bundle lacks both.
    const early = await gpuTestBundle(path.join(fleet.work, "no-toolkit"), release, {
      toolkit: false,
      devicePlugin: false,
    });
    const full = await gpuTestBundle(path.join(fleet.work, "full"), release);

    const first = await fleet.groundcrew("up", "-i", inventory, "-b", early.file, "--port", PORT);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stderr).toMatch(/node2: skipped the NVIDIA container toolkit/);
    expect(first.stdout).toMatch(/node2 +#\d+ gpu\.driver succeeded/);
    expect(await fleet.asRoot("node2", ["cat", CONTAINERD_CONFIG])).not.toContain("nvidia");

    const late = await fleet.groundcrew("up", "-i", inventory, "-b", full.file, "--port", PORT);
    expect(late.code, late.stdout + late.stderr).toBe(0);
    expect(late.stdout).toMatch(
      /node2 +#\d+ gpu\.toolkit succeeded in [\d.]+ s: .*restarted k3s-agent\.service so that its containerd config is regenerated/,
    );
    expect(late.stdout).toMatch(/node2 +#\d+ k3s\.install skipped/);
    expect(await fleet.asRoot("node2", ["cat", CONTAINERD_CONFIG])).toContain(
      `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes."nvidia"]`,
    );
    expect(await fleet.asRoot("node2", ["systemctl", "is-active", "k3s-agent.service"])).toBe("active\n");
    // The first run said the device plugin was left out; now it runs and node2 offers its GPU.
    expect(first.stdout).toMatch(/^gpu +node2 +NONE +the device plugin is not deployed/m);
    expect(late.stdout).toMatch(/^gpu +node2 +1 GPU +nvidia\.com\/gpu allocatable$/m);

    const reset = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    const { added, removed } = snapshotDiff(before, await snapshot(fleet, "node2"));
    expect(added, "node2: left behind").toEqual([]);
    expect(removed, "node2: removed").toEqual([]);
  }, 300_000);
});
