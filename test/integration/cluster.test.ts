import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseNodeList } from "../../agent/steps/k3s-nodes.js";
import { MADE_IMAGES } from "../../server/demo/cluster-bundle.js";
import { clusterTestBundle } from "../support/cluster-fixture.js";
import { RESET_ALLOWED, snapshotDiff, snapshotHost } from "../support/host-snapshot.js";
import { startLabFleet, type LabFleet } from "../support/lab-fleet.js";

/** Nodes as the first server's API lists them. */
async function nodes(fleet: LabFleet, server: string) {
  const list = parseNodeList(
    await fleet.asRoot(server, ["/usr/local/bin/k3s", "kubectl", "get", "nodes", "-o", "json"]),
  );
  if (list === undefined) throw new Error("kubectl get nodes -o json did not print a NodeList");
  return new Map(list.items.map((node) => [node.metadata.name, node]));
}

function readyOf(node: { status: { conditions: { type: string; status: string }[] } } | undefined): boolean {
  return node?.status.conditions.some((c) => c.type === "Ready" && c.status === "True") === true;
}

async function snapshotAll(fleet: LabFleet): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  for (const machine of fleet.lab.machines)
    result.set(machine.name, await snapshotHost(fleet, machine.name, RESET_ALLOWED));
  return result;
}

async function expectAsBefore(fleet: LabFleet, before: Map<string, string[]>): Promise<void> {
  const now = await snapshotAll(fleet);
  for (const machine of fleet.lab.machines) {
    const { added, removed } = snapshotDiff(before.get(machine.name) ?? [], now.get(machine.name) ?? []);
    expect(added, `${machine.name}: left behind`).toEqual([]);
    expect(removed, `${machine.name}: removed`).toEqual([]);
  }
}

describe("an HA cluster from a bundle: 3 servers (node1 the depot) + 1 worker", () => {
  const PORT = "17448";
  let fleet: LabFleet;
  let inventory: string;
  let bundle: string;
  let before: Map<string, string[]>;

  beforeAll(async () => {
    fleet = await startLabFleet(4);
    bundle = (await clusterTestBundle(path.join(fleet.work, "bundle"))).file;
    const [n1, n2, n3, n4] = fleet.lab.machines;
    inventory = await fleet.writeYamlInventory("ha.yaml", [
      "hosts:",
      `  - {name: node1, address: ${n1?.address}, role: server, depot: true, installDocker: true}`,
      `  - {name: node2, address: ${n2?.address}, role: server}`,
      `  - {name: node3, address: ${n3?.address}, role: server}`,
      `  - name: node4`,
      `    address: ${n4?.address}`,
      "    installDocker: true",
      "    groups: [training]",
      "    labels: {topology.kubernetes.io/zone: rack-a}",
      "    taints: [dedicated=ml:NoSchedule]",
    ]);
    before = await snapshotAll(fleet);
  });

  afterAll(async () => {
    await fleet.stop();
  });

  it("up installs the registry, seeds it, installs Docker and k3s, and every node is Ready with its labels", async () => {
    const up = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/node1 +#\d+ registry\.seed succeeded/);
    // The final verification's table: every node Ready with its roles, k3s's default storage class, the depot.
    expect(up.stdout).toMatch(/^node +node4 +Ready +worker$/m);
    expect(up.stdout).toMatch(/^node +node2 +Ready +\S*etcd\S*$/m);
    expect(up.stdout).toMatch(/^storage +local-path +default +rancher\.io\/local-path$/m);
    expect(up.stdout).toMatch(/^registry +node1 +serving /m);
    expect(up.stdout).toMatch(/cluster: ready, 4 node\(s\)/);
    // Servers join one at a time after the first; the worker after every server.
    const finished = (host: string): number =>
      up.stdout.search(new RegExp(`${host} +#\\d+ k3s\\.install succeeded`));
    expect(finished("node1")).toBeGreaterThan(-1);
    expect(finished("node1")).toBeLessThan(finished("node2"));
    expect(finished("node2")).toBeLessThan(finished("node3"));
    expect(finished("node3")).toBeLessThan(finished("node4"));

    const cluster = await nodes(fleet, "node2");
    expect([...cluster.keys()].sort()).toEqual(["node1", "node2", "node3", "node4"]);
    for (const node of cluster.values()) expect(readyOf(node), node.metadata.name).toBe(true);
    for (const server of ["node1", "node2", "node3"]) {
      expect(cluster.get(server)?.metadata.labels["node-role.kubernetes.io/etcd"]).toBe("true");
    }
    const worker = cluster.get("node4");
    expect(worker?.metadata.labels).toMatchObject({
      nodetype: "training",
      "groundcrew.io/group.training": "true",
      "topology.kubernetes.io/zone": "rack-a",
    });
    expect(worker?.spec.taints).toEqual([{ key: "dedicated", value: "ml", effect: "NoSchedule" }]);

    // The depot registry serves both seeded images to a real client, through the mirror config.
    const depot = `${fleet.lab.machines[0]?.address ?? ""}:5000`;
    await fleet.asRoot("node4", ["docker", "pull", "busybox:stable"]);
    await fleet.asRoot("node4", ["docker", "run", "--rm", "--network", "none", "busybox:stable", "true"]);
    await fleet.asRoot("node4", ["docker", "pull", `${depot}/groundcrew/hello:1.0`]);
    expect(MADE_IMAGES.length).toBe(2);
    // k3s on every node mirrors docker.io to the depot, trusting groundcrew's CA.
    const registries = await fleet.asRoot("node3", ["cat", "/etc/rancher/k3s/registries.yaml"]);
    expect(registries).toContain(`https://${depot}`);

    const kubeconfig = await readFile(path.join(fleet.work, "state", "kubeconfig.yaml"), "utf8");
    expect(kubeconfig).toContain(`server: https://${fleet.lab.machines[0]?.address ?? ""}:6443`);
  });

  it("up again changes nothing: every step is skipped", async () => {
    const again = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/#\d+ (?!run )\S+ succeeded/);
    expect(again.stdout).toMatch(/node4 +#\d+ k3s\.install skipped/);
  });

  it("labels and taints edited in the inventory reach the node on the next up; others' stay", async () => {
    await fleet.asRoot("node1", [
      "/usr/local/bin/k3s",
      "kubectl",
      "patch",
      "node",
      "node4",
      "--type=merge",
      "-p",
      JSON.stringify({ metadata: { labels: { "example.com/owner": "ops" } } }),
    ]);
    const [n1, n2, n3, n4] = fleet.lab.machines;
    const edited = await fleet.writeYamlInventory("ha-edited.yaml", [
      "hosts:",
      `  - {name: node1, address: ${n1?.address}, role: server, depot: true, installDocker: true}`,
      `  - {name: node2, address: ${n2?.address}, role: server}`,
      `  - {name: node3, address: ${n3?.address}, role: server}`,
      `  - name: node4`,
      `    address: ${n4?.address}`,
      "    installDocker: true",
      "    groups: [training]",
      "    labels: {team: vision}",
      "    taints: [gpu-only=true:PreferNoSchedule]",
    ]);
    const up = await fleet.groundcrew("up", "-i", edited, "-b", bundle, "--port", PORT);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    // team=vision may already be there: k3s restarts with the new node-label, taints it leaves to us.
    expect(up.stdout).toMatch(/synced node4: label topology\.kubernetes\.io\/zone removed/);
    expect(up.stdout).toMatch(/synced node4: taint dedicated=ml:NoSchedule removed/);
    const worker = (await nodes(fleet, "node1")).get("node4");
    expect(worker?.metadata.labels).toMatchObject({ team: "vision", "example.com/owner": "ops" });
    expect(worker?.metadata.labels["topology.kubernetes.io/zone"]).toBeUndefined();
    expect(worker?.spec.taints).toEqual([{ key: "gpu-only", value: "true", effect: "PreferNoSchedule" }]);
  });

  it("reset leaves every host as it was, and a second reset is a no-op", async () => {
    const reset = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    expect(reset.stdout).toMatch(/deleted node node4 from the cluster/);
    await expectAsBefore(fleet, before);
    const again = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/node1 +reset: nothing of groundcrew was left/);
    await expectAsBefore(fleet, before);
  });
});

describe("a small cluster: 1 server + 2 workers, and a reset cut short", () => {
  const PORT = "17449";
  let fleet: LabFleet;
  let inventory: string;
  let bundle: string;
  let before: Map<string, string[]>;

  beforeAll(async () => {
    fleet = await startLabFleet(3);
    bundle = (await clusterTestBundle(path.join(fleet.work, "bundle"))).file;
    inventory = await fleet.writeInventory("small.yaml", { depot: true, installDocker: false });
    before = await snapshotAll(fleet);
  });

  afterAll(async () => {
    await fleet.stop();
  });

  it("up: the server and both workers are Ready", async () => {
    const up = await fleet.groundcrew("up", "-i", inventory, "-b", bundle, "--port", PORT);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const cluster = await nodes(fleet, "node1");
    expect([...cluster.keys()].sort()).toEqual(["node1", "node2", "node3"]);
    for (const node of cluster.values()) expect(readyOf(node), node.metadata.name).toBe(true);
    expect(cluster.get("node1")?.metadata.labels["node-role.kubernetes.io/etcd"]).toBeUndefined();
  });

  it("a reset killed halfway, run again, reaches the clean state", async () => {
    const env = { ...process.env, GROUNDCREW_STATE_DIR: path.join(fleet.work, "state") };
    const cli = path.resolve("dist", "server", "cli", "main.js");
    const first = spawn(process.execPath, [cli, "reset", "-i", inventory, "--yes"], { env });
    let output = "";
    await new Promise<void>((resolve) => {
      first.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (/node(2|3) +reset:/.test(output)) first.kill("SIGKILL");
      });
      first.once("exit", () => {
        resolve();
      });
    });
    expect(output).not.toMatch(/node1 +reset:/);
    const again = await fleet.groundcrew("reset", "-i", inventory, "--yes");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    await expectAsBefore(fleet, before);
  });
});
