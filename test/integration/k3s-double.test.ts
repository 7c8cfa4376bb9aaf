import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { request } from "node:https";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ensureK3sDouble } from "../support/k3s-double.js";
import { startLabFleet, type LabFleet } from "../support/lab-fleet.js";

/**
 * The k3s test double on real lab machines (no Node.js there): a first
 * server with embedded etcd, an agent refused for a wrong token and then
 * joined, node passwords, a server restart, and node deletion. The units
 * and configs are written here by hand: this tests the double, not the
 * product's k3s steps.
 */

const SERVER_UNIT = `[Unit]
Description=k3s test double (server)
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
ExecStart=/usr/local/bin/k3s server
KillMode=process
Delegate=yes
Restart=always
RestartSec=5s
TimeoutStartSec=60

[Install]
WantedBy=multi-user.target
`;

const AGENT_UNIT = SERVER_UNIT.replace("(server)", "(agent)")
  .replace("Type=notify", "Type=exec")
  .replace("k3s server", "k3s agent");

const SERVER_CONFIG = `cluster-init: true
write-kubeconfig-mode: "0640"
node-label:
  - "groundcrew.dev/pool=infra"
node-taint:
  - "dedicated=infra:NoSchedule"
tls-san: [k3s.lab.internal]
disable: [traefik]
not-a-flag: 1
`;

const nodeListSchema = z.object({
  kind: z.literal("List"),
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string(), labels: z.record(z.string()) }),
      spec: z.object({
        taints: z
          .array(z.object({ key: z.string(), value: z.string().optional(), effect: z.string() }))
          .optional(),
      }),
      status: z.object({
        conditions: z.array(z.object({ type: z.string(), status: z.string() })),
        addresses: z.array(z.object({ type: z.string(), address: z.string() })),
        nodeInfo: z.object({ kubeletVersion: z.string() }),
      }),
    }),
  ),
});
type NodeList = z.infer<typeof nodeListSchema>;

describe("k3s test double on lab machines", () => {
  let fleet: LabFleet;
  let node1Address: string;
  let node2Address: string;
  let token: string;

  /** Runs a bash script as root; rejects on a non-zero exit. */
  const sh = (machine: string, script: string): Promise<string> =>
    fleet.asRoot(machine, ["bash", "-c", script]);
  /** Runs a bash script as root and returns its combined output and exit status. */
  const attempt = async (machine: string, script: string): Promise<{ code: number; output: string }> => {
    const output = await sh(machine, `{ ${script} ; } 2>&1; echo "exit=$?"`);
    const match = /exit=(\d+)\s*$/.exec(output);
    return { code: Number(match?.[1] ?? "-1"), output: output.replace(/exit=\d+\s*$/, "") };
  };
  const put = async (machine: string, remote: string, content: string, mode = "0644"): Promise<void> => {
    const local = path.join(fleet.work, `${machine}-${path.basename(remote)}`);
    await writeFile(local, content);
    await sh(machine, `mkdir -p ${path.dirname(remote)}`);
    await fleet.uploadAsRoot(machine, local, remote);
    await sh(machine, `chmod ${mode} ${remote}`);
  };
  const nodes = async (): Promise<NodeList["items"]> =>
    nodeListSchema.parse(JSON.parse(await sh("node1", "k3s kubectl get nodes -o json"))).items;
  const journalUntil = async (
    machine: string,
    unit: string,
    text: string,
    timeoutMs: number,
  ): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const journal = await sh(machine, `journalctl -u ${unit} --no-pager -o cat`);
      if (journal.includes(text) || Date.now() > deadline) return journal;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
  const agentConfig = (agentToken: string): string =>
    [
      `server: https://${node1Address}:6443`,
      `token: ${agentToken}`,
      "node-label:",
      '  - "groundcrew.dev/pool=gpu"',
      "",
    ].join("\n");

  beforeAll(async () => {
    const binary = await ensureK3sDouble();
    fleet = await startLabFleet(2);
    node1Address = fleet.lab.machines[0]!.address;
    node2Address = fleet.lab.machines[1]!.address;
    await Promise.all(
      ["node1", "node2"].map(async (machine) => {
        await fleet.uploadAsRoot(machine, binary, "/usr/local/bin/k3s");
        await sh(
          machine,
          "chmod 0755 /usr/local/bin/k3s && ln -sf /usr/local/bin/k3s /usr/local/bin/kubectl",
        );
      }),
    );
  });

  afterAll(async () => {
    await fleet.stop();
  });

  it("runs without Node.js and refuses bad configurations before starting", async () => {
    expect(await sh("node1", "command -v node || echo no-node")).toContain("no-node");
    expect(await sh("node1", "k3s --version")).toBe(
      "k3s version v1.36.2+k3s1 (groundcrew-double)\ngo version go1.24.4\n",
    );

    const noToken = await attempt("node2", "k3s agent");
    expect(noToken.code).toBe(1);
    expect(noToken.output).toContain("--token is required");

    const badLabel = await attempt(
      "node2",
      "k3s server --data-dir /tmp/never --node-label kubernetes.io/role=worker",
    );
    expect(badLabel.code).toBe(1);
    expect(badLabel.output).toContain(
      "unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [kubernetes.io/role]",
    );
    expect((await attempt("node2", "test -e /tmp/never")).code).toBe(1);

    await put(
      "node2",
      "/tmp/bad-registries.yaml",
      "configs:\n  reg.lab:5000:\n    tls:\n      ca_file: /nonexistent/ca.crt\n",
    );
    const badCa = await attempt(
      "node2",
      "k3s agent --token t --server https://127.0.0.1:6443 --private-registry /tmp/bad-registries.yaml",
    );
    expect(badCa.code).toBe(1);
    expect(badCa.output).toContain("ca_file /nonexistent/ca.crt does not exist");

    const crictl = await attempt("node2", "k3s crictl ps");
    expect(crictl.code).toBe(1);
    expect(crictl.output).toContain("not implemented by the test double");
  });

  it("starts a first server with embedded etcd, its labels, taint, token, kubeconfig, registries and images", async () => {
    await put("node1", "/etc/rancher/k3s/config.yaml", SERVER_CONFIG);
    await put(
      "node1",
      "/etc/rancher/k3s/config.yaml.d/50-extra.yaml",
      'node-label+: ["groundcrew.dev/extra=yes"]\n',
    );
    await put(
      "node1",
      "/etc/rancher/k3s/registries.yaml",
      `mirrors:\n  docker.io:\n    endpoint: ["http://${node1Address}:5000"]\n`,
    );
    await sh(
      "node1",
      "mkdir -p /var/lib/rancher/k3s/agent/images && head -c 4096 /dev/zero > /var/lib/rancher/k3s/agent/images/test-images.tar",
    );
    await put("node1", "/etc/systemd/system/k3s.service", SERVER_UNIT);
    await sh("node1", "systemctl daemon-reload && systemctl start k3s");

    token = (await sh("node1", "cat /var/lib/rancher/k3s/server/token")).trim();
    expect(token).toMatch(/^K10[0-9a-f]{64}::server:[0-9a-f]{32}$/);
    expect(await sh("node1", "readlink /var/lib/rancher/k3s/server/node-token")).toContain("/server/token");
    expect((await sh("node1", "stat -c %a /var/lib/rancher/k3s/server/token")).trim()).toBe("600");
    expect((await sh("node1", "stat -c %a /etc/rancher/k3s/k3s.yaml")).trim()).toBe("640");
    expect(await httpsGet(node1Address, "/ping")).toBe("pong");
    const caBundle = await httpsGet(node1Address, "/cacerts");
    expect(token.slice(3, 67)).toBe(createHash("sha256").update(caBundle).digest("hex"));

    const journal = await sh("node1", "journalctl -u k3s --no-pager -o cat");
    expect(journal).not.toContain("Could not notify systemd");
    expect(journal).toContain("Unknown flag --not-a-flag found in config.yaml, skipping");
    expect(journal).toContain("Imported images from /var/lib/rancher/k3s/agent/images/test-images.tar");
    expect(journal).toContain(`Registry mirror docker.io: http://${node1Address}:5000/`);
    expect(
      await sh("node1", "cat /var/lib/rancher/k3s/agent/etc/containerd/certs.d/docker.io/hosts.toml"),
    ).toContain(`[host."http://${node1Address}:5000/v2"]`);

    const [server] = await nodes();
    expect(server?.metadata.name).toBe("node1");
    expect(server?.metadata.labels).toMatchObject({
      "groundcrew.dev/pool": "infra",
      "groundcrew.dev/extra": "yes",
      "node-role.kubernetes.io/control-plane": "true",
      "node-role.kubernetes.io/master": "true",
      "node-role.kubernetes.io/etcd": "true",
      "kubernetes.io/hostname": "node1",
    });
    expect(server?.spec.taints).toEqual([{ key: "dedicated", value: "infra", effect: "NoSchedule" }]);
    expect(server?.status.conditions.find((condition) => condition.type === "Ready")?.status).toBe("True");
    expect(server?.status.nodeInfo.kubeletVersion).toBe("v1.36.2+k3s1");
  });

  it("refuses an agent with a wrong token: the unit fails and the node never appears", async () => {
    await put(
      "node2",
      "/etc/rancher/k3s/config.yaml",
      agentConfig(`${token.slice(0, token.lastIndexOf(":") + 1)}wrong`),
    );
    await put("node2", "/etc/systemd/system/k3s-agent.service", AGENT_UNIT);
    await sh("node2", "systemctl daemon-reload && systemctl start k3s-agent");

    const journal = await journalUntil("node2", "k3s-agent", "401 Unauthorized", 20_000);
    expect(journal).toContain("failed to validate token: token is not valid:");
    expect(await sh("node2", "systemctl show k3s-agent -p ExecMainStatus")).toContain("ExecMainStatus=1");
    expect((await attempt("node2", "ip link show cni0")).code).not.toBe(0);
    expect((await nodes()).map((node) => node.metadata.name)).toEqual(["node1"]);
  });

  it("joins an agent with the right token: both nodes Ready with their labels, taints and addresses", async () => {
    await put("node2", "/etc/rancher/k3s/config.yaml", agentConfig(token));
    await sh("node2", "systemctl restart k3s-agent");
    expect(await sh("node1", "kubectl wait --for=condition=Ready node/node2 --timeout=60s")).toBe(
      "node/node2 condition met\n",
    );

    const all = await nodes();
    expect(all.map((node) => node.metadata.name).sort()).toEqual(["node1", "node2"]);
    for (const node of all)
      expect(node.status.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
    const agent = all.find((node) => node.metadata.name === "node2");
    expect(agent?.metadata.labels["groundcrew.dev/pool"]).toBe("gpu");
    expect(agent?.metadata.labels["node-role.kubernetes.io/control-plane"]).toBeUndefined();
    expect(agent?.spec.taints).toBeUndefined();
    expect(agent?.status.addresses).toContainEqual({ type: "InternalIP", address: node2Address });

    const table = await sh("node1", "k3s kubectl get nodes");
    expect(table.split("\n")[0]).toMatch(/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION$/);
    expect(table).toMatch(/node1\s+Ready\s+control-plane,etcd,master\s+\S+\s+v1\.36\.2\+k3s1/);
    expect(table).toMatch(/node2\s+Ready\s+<none>\s+\S+\s+v1\.36\.2\+k3s1/);

    const traces = await sh(
      "node2",
      "ip -o link show cni0 && iptables -S KUBE-FIREWALL && iptables -S INPUT && ls -d /var/lib/kubelet/pods /run/k3s/containerd && stat -c %a /etc/rancher/node/password",
    );
    expect(traces).toContain("cni0");
    expect(traces).toContain("-A INPUT -j KUBE-FIREWALL");
    expect(traces).toContain("-A KUBE-FIREWALL");
    expect(traces.trim().endsWith("600")).toBe(true);
  });

  it("keeps the cluster across server restarts, importing images as .cache.json says", async () => {
    const images = "/var/lib/rancher/k3s/agent/images";
    const imported = `Imported images from ${images}/test-images.tar`;
    const count = async (text: string): Promise<number> =>
      (await sh("node1", "journalctl -u k3s --no-pager -o cat")).split(text).length - 1;
    expect(await count(imported)).toBe(1);

    // An empty cache: this start imports every archive and records it.
    await sh("node1", `: > ${images}/.cache.json && systemctl restart k3s`);
    expect((await sh("node1", "cat /var/lib/rancher/k3s/server/token")).trim()).toBe(token);
    expect((await nodes()).map((node) => node.metadata.name).sort()).toEqual(["node1", "node2"]);
    expect(await count(imported)).toBe(2);
    expect(await sh("node1", `cat ${images}/.cache.json`)).toContain(`${images}/test-images.tar`);

    // An unchanged archive is skipped while the cache knows it.
    await sh("node1", "systemctl restart k3s");
    expect(await count(imported)).toBe(2);
    expect(await count(`Image file ${images}/test-images.tar has not changed since last import`)).toBe(1);
    expect(await sh("node1", "kubectl wait --for=condition=Ready node/node2 --timeout=30s")).toBe(
      "node/node2 condition met\n",
    );
  });

  it("refuses a node name held by another node password until that node is deleted", async () => {
    await sh("node2", "echo another-password > /etc/rancher/node/password && systemctl restart k3s-agent");
    const journal = await journalUntil("node2", "k3s-agent", "Node password rejected", 20_000);
    expect(journal).toContain("Node password rejected");
    expect(await sh("node1", "kubectl delete node node2")).toBe('node "node2" deleted\n');
    const deadline = Date.now() + 20_000;
    while (!(await nodes()).some((node) => node.metadata.name === "node2") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    expect(await sh("node1", "kubectl wait --for=condition=Ready node/node2 --timeout=10s")).toBe(
      "node/node2 condition met\n",
    );
  });

  it("deletes a node with kubectl, and it stays deleted while its agent runs", async () => {
    expect(await sh("node1", "k3s kubectl delete node node2")).toBe('node "node2" deleted\n');
    expect((await nodes()).map((node) => node.metadata.name)).toEqual(["node1"]);
    // The journal holds the message as k3s logs it: logrus quotes it, escaping inner quotes.
    const notFound = String.raw`nodes \"node2\" not found`;
    const journal = await journalUntil("node2", "k3s-agent", notFound, 12_000);
    expect(journal).toContain(notFound);
    expect((await nodes()).map((node) => node.metadata.name)).toEqual(["node1"]);
    const missing = await attempt("node1", "k3s kubectl get node node2");
    expect(missing.code).toBe(1);
    expect(missing.output).toContain('Error from server (NotFound): nodes "node2" not found');
  });
  it("joins a second server, which serves the cluster CA and the node API itself", async () => {
    await sh("node2", "systemctl stop k3s-agent");
    await put(
      "node2",
      "/etc/rancher/k3s/config.yaml",
      `server: https://${node1Address}:6443\ntoken: ${token}\n`,
    );
    await put("node2", "/etc/systemd/system/k3s.service", SERVER_UNIT);
    await sh("node2", "systemctl daemon-reload && systemctl start k3s");

    expect((await sh("node2", "cat /var/lib/rancher/k3s/server/token")).trim()).toBe(token);
    expect(await httpsGet(node2Address, "/cacerts")).toBe(await httpsGet(node1Address, "/cacerts"));
    const seen = nodeListSchema.parse(JSON.parse(await sh("node2", "k3s kubectl get nodes -o json"))).items;
    expect(seen.map((node) => node.metadata.name).sort()).toEqual(["node1", "node2"]);
    expect(seen.find((node) => node.metadata.name === "node2")?.metadata.labels).toMatchObject({
      "node-role.kubernetes.io/control-plane": "true",
      "node-role.kubernetes.io/etcd": "true",
    });
  });
});

/** GET over HTTPS from this host, trusting anything (the CA is what is being checked). */
function httpsGet(host: string, pathname: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port: 6443, path: pathname, rejectUnauthorized: false, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          resolve(Buffer.concat(chunks).toString("utf8"));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}
