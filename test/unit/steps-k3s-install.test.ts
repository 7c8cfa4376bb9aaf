import { afterEach, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { k3sInstallStep } from "../../agent/steps/k3s-install.js";
import {
  K3S,
  renderConfig,
  renderRegistries,
  renderUnit,
  unitName,
  unitPath,
  type K3sRole,
} from "../../agent/steps/k3s-files.js";
import { parseNodeList } from "../../agent/steps/k3s-nodes.js";
import { directory, symlink, type FakeTree } from "../fakes/fake-fs.js";
import { fakeSystemd } from "../fakes/fake-systemd.js";
import { fakePrepHost } from "../fakes/prep-host.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

const CAS = "/var/lib/groundcrew/cas/sha256";
const BIN_SHA = "1".repeat(64);
const NEW_BIN_SHA = "2".repeat(64);
const IMAGES_SHA = "3".repeat(64);
const IMAGES_CONTENT = "(zstd airgap images)";
const TOKEN = "K10-very-secret-join-token-5f1e";
const TOKEN_FILE = "/var/lib/groundcrew/agent/secrets/k3s-token";
const CA_FILE = "/var/lib/groundcrew/agent/tls/ca.pem";
const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBgroundcrew\n-----END CERTIFICATE-----\n";
const IMAGE_REF = {
  sha256: IMAGES_SHA,
  size: IMAGES_CONTENT.length,
  path: "k3s/k3s-airgap-images-amd64.tar.zst",
  kind: "k3s-images",
} as const;
const IMAGE_FILE = `${K3S.imagesDir}/k3s-airgap-images-amd64.tar.zst`;
const IPTABLES_BEFORE = [
  "*filter",
  ":INPUT ACCEPT [0:0]",
  "-A INPUT -p tcp --dport 22 -j ACCEPT",
  "COMMIT",
  "",
];

function serverParams(overrides: Record<string, unknown> = {}) {
  return {
    role: "server",
    binary: { sha256: BIN_SHA, size: 100, path: "k3s/k3s", kind: "k3s-binary" },
    images: [IMAGE_REF],
    config: {
      "node-name": "master1",
      "node-ip": "10.0.0.5",
      "flannel-iface": "eth1",
      "node-label": ["nodetype=gpu", "groundcrew.io/group.gpu=true"],
      "node-taint": ["nvidia.com/gpu=true:NoSchedule"],
      "cluster-init": true,
      "tls-san": ["10.0.0.5"],
      "cluster-cidr": "10.42.0.0/16",
      "service-cidr": "10.43.0.0/16",
      "write-kubeconfig-mode": "0600",
      "disable-default-registry-endpoint": true,
    },
    tokenFile: TOKEN_FILE,
    registry: { endpoint: "10.0.0.5:5000", mirrors: ["docker.io", "registry.k8s.io"], caFile: CA_FILE },
    readyTimeoutSec: 5,
    ...overrides,
  };
}

function agentParams() {
  return serverParams({
    role: "agent",
    images: [],
    config: { "node-name": "worker1", "node-ip": "10.0.0.7", server: "https://10.0.0.5:6443" },
    registry: { endpoint: "10.0.0.5:5000", mirrors: ["docker.io"] },
  });
}

/**
 * A Debian host for k3s: the artifacts in its store, the token and CA the
 * provisioner delivered. install/ln/cp/rm change files as they would;
 * sha256sum reads the hash the fake binary names. Starting the unit does
 * what k3s does at run time (its trees under /etc/rancher, /var/lib/rancher,
 * /var/lib/kubelet, /run/k3s..., a containerd shim, mounts, cni0 and
 * flannel.1 with a pod's veth, KUBE-/CNI-/FLANNEL iptables rules, the node
 * Ready in the API); the k3s-killall steps of undo take those away again.
 */
function k3sHost(role: K3sRole, options: { extra?: FakeTree } = {}) {
  const host = fakePrepHost({
    swap: false,
    extra: {
      "/usr/local/bin": directory(),
      "/var/lib": directory(),
      "/run/netns": directory(),
      "/sys/class/net/lo/mtu": "65536\n",
      "/sys/class/net/eth1/mtu": "1500\n",
      "/proc/self/mounts": "/dev/sda1 / ext4 rw,relatime 0 0\n",
      "/proc/1/exe": symlink("/usr/lib/systemd/systemd"),
      [`${CAS}/${BIN_SHA}`]: `(k3s ${BIN_SHA})`,
      [`${CAS}/${NEW_BIN_SHA}`]: `(k3s ${NEW_BIN_SHA})`,
      [`${CAS}/${IMAGES_SHA}`]: IMAGES_CONTENT,
      [TOKEN_FILE]: `${TOKEN}\n`,
      [CA_FILE]: CA_PEM,
      ...options.extra,
    },
  });
  const { fs, exec } = host;
  const state = { ready: false, iptables: IPTABLES_BEFORE.join("\n"), ip6tables: "*filter\nCOMMIT\n" };
  const write = (path: string, text: string, mode = 0o644) => fs.writeFileAtomic(path, text, mode);

  exec.answer(`sha256sum ${K3S.binary}`, async () => {
    const content = await fs.readTextIfExists(K3S.binary);
    const sha = /^\(k3s ([0-9a-f]{64})\)$/.exec(content ?? "")?.[1];
    if (sha === undefined)
      return { code: 1, stderr: `sha256sum: ${K3S.binary}: No such file or directory\n` };
    return { stdout: `${sha}  ${K3S.binary}\n` };
  });
  for (const sha of [BIN_SHA, NEW_BIN_SHA]) {
    exec.answer(`install -m 0755 ${CAS}/${sha} ${K3S.binary}`, async () => {
      await write(K3S.binary, await fs.readText(`${CAS}/${sha}`), 0o755);
      return {};
    });
  }
  for (const link of K3S.symlinks) {
    exec.answer(`ln -s k3s ${link}`, async () => {
      await write(link, "(link to k3s)");
      return {};
    });
  }
  exec.answer(`cp ${CAS}/${IMAGES_SHA} ${IMAGE_FILE}.partial`, async () => {
    await write(`${IMAGE_FILE}.partial`, await fs.readText(`${CAS}/${IMAGES_SHA}`));
    return {};
  });
  for (const tree of [
    "/etc/rancher",
    "/var/lib/rancher",
    "/var/lib/kubelet",
    "/var/lib/cni",
    "/run/k3s",
    "/run/flannel",
    K3S.binary,
    ...K3S.symlinks,
  ]) {
    exec.answer(`rm -rf -- ${tree}`, async () => {
      await fs.remove(tree);
      return {};
    });
  }
  exec.answer(`${K3S.binary} kubectl get nodes -o json`, () =>
    state.ready
      ? {
          stdout: JSON.stringify({
            items: [
              {
                metadata: { name: role === "server" ? "master1" : "worker1", labels: {} },
                status: { conditions: [{ type: "Ready", status: "True" }] },
              },
            ],
          }),
        }
      : { code: 1, stderr: "The connection to the server 127.0.0.1:6443 was refused\n" },
  );
  exec.answer(`journalctl -u ${unitName(role)} -n 8 --no-pager -o cat`, {
    stdout: 'level=info msg="Starting k3s"\nlevel=fatal msg="failed to find cpuset cgroup (v2)"\n',
  });

  // What k3s-killall.sh cleans: the shim, the mounts, the links, the rules.
  exec.answer("kill -9 4242", async () => {
    await fs.remove("/proc/4242");
    return {};
  });
  const mounts = [
    "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs",
    "/var/lib/kubelet/pods/p1/volumes/kubernetes.io~projected/token",
  ];
  for (const point of mounts) {
    exec.answer(`umount -f ${point}`, async () => {
      const table = await fs.readText("/proc/self/mounts");
      await write(
        "/proc/self/mounts",
        table
          .split("\n")
          .filter((line) => !line.includes(` ${point} `))
          .join("\n"),
      );
      return {};
    });
  }
  for (const link of ["veth1a2b3c", "cni0", "flannel.1"]) {
    exec.answer(`ip link delete ${link}`, async () => {
      await fs.remove(`/sys/class/net/${link}`);
      return {};
    });
  }
  exec.answer("ip netns delete cni-1234", async () => {
    await fs.remove("/run/netns/cni-1234");
    return {};
  });
  exec.answer("iptables-save", () => ({ stdout: state.iptables }));
  exec.answer("ip6tables-save", () => ({ stdout: state.ip6tables }));
  exec.answer("iptables-restore", (_argv, options) => {
    state.iptables = options?.input?.toString() ?? "";
    return {};
  });
  exec.answer("ip6tables-restore", (_argv, options) => {
    state.ip6tables = options?.input?.toString() ?? "";
    return {};
  });

  const systemd = fakeSystemd(exec, fs, {
    [unitName(role)]: {
      start: async () => {
        for (const [path, text] of Object.entries({
          "/etc/rancher/node/password": "node-password\n",
          "/var/lib/rancher/k3s/server/token": `${TOKEN}\n`,
          "/var/lib/rancher/k3s/data/abc/bin/containerd-shim-runc-v2": "(elf)",
          "/var/lib/kubelet/pods/p1/volumes/.keep": "",
          "/var/lib/cni/networks/cbr0/last_reserved_ip.0": "10.42.0.2",
          "/run/k3s/containerd/containerd.sock": "",
          "/run/flannel/subnet.env": "FLANNEL_NETWORK=10.42.0.0/16\n",
          "/sys/class/net/cni0/mtu": "1450\n",
          "/sys/class/net/flannel.1/mtu": "1450\n",
          "/sys/class/net/veth1a2b3c/mtu": "1450\n",
          "/run/netns/cni-1234": "",
        })) {
          await fs.mkdirp(path.slice(0, path.lastIndexOf("/")), 0o755);
          await write(path, text);
        }
        if (role === "server") await write(K3S.kubeconfig, "apiVersion: v1\n", 0o600);
        await fs.mkdirp("/proc/4242", 0o555);
        await write("/proc/4242/comm", "containerd-shim\n");
        const table = await fs.readText("/proc/self/mounts");
        await write(
          "/proc/self/mounts",
          `${table}${mounts.map((point) => `overlay ${point} overlay rw 0 0\n`).join("")}`,
        );
        state.iptables = [
          "*filter",
          ":INPUT ACCEPT [0:0]",
          ":KUBE-FIREWALL - [0:0]",
          ":FLANNEL-FWD - [0:0]",
          "-A INPUT -p tcp --dport 22 -j ACCEPT",
          "-A INPUT -j KUBE-FIREWALL",
          '-A FORWARD -s 10.42.0.0/16 -m comment --comment "flanneld forward" -j FLANNEL-FWD',
          "-A CNI-abc -d 10.42.0.0/24 -j ACCEPT",
          "COMMIT",
          "",
        ].join("\n");
        state.ready = true;
        return undefined;
      },
      stop: () => {
        state.ready = false;
      },
    },
  });
  return { ...host, state, systemd };
}

/** The shim's /proc/<pid>/exe link: what killShims looks for. The fake Fs cannot add links, so the tree has it from the start. */
const SHIM_LINK = { "/proc/4242/exe": symlink("/var/lib/rancher/k3s/data/abc/bin/containerd-shim-runc-v2") };
const VETH_MASTER = { "/sys/class/net/veth1a2b3c/master": symlink("../../../devices/virtual/net/cni0") };

function mentionsToken(values: readonly unknown[]): string[] {
  return values.map((value) => JSON.stringify(value)).filter((text) => text.includes(TOKEN));
}

afterEach(() => {
  vi.useRealTimers();
});

describe("k3s config files", () => {
  it("config.yaml: the plan's keys in order, empty lists left out, the token last", () => {
    const text = renderConfig(
      { "node-name": "worker1", "node-label": [], "node-taint": [], server: "https://10.0.0.5:6443" },
      TOKEN,
    );
    expect(text).toBe(
      `# Written by groundcrew (k3s.install).\nnode-name: worker1\nserver: https://10.0.0.5:6443\ntoken: ${TOKEN}\n`,
    );
  });

  it("registries.yaml: every mirrored registry and the depot itself through the depot, plain HTTP or TLS", () => {
    expect(parse(renderRegistries({ endpoint: "10.0.0.5:5000", mirrors: ["docker.io"] }))).toEqual({
      mirrors: {
        "docker.io": { endpoint: ["http://10.0.0.5:5000"] },
        "10.0.0.5:5000": { endpoint: ["http://10.0.0.5:5000"] },
      },
    });
    expect(
      parse(
        renderRegistries({
          endpoint: "[fd00::5]:5000",
          mirrors: ["ghcr.io", "quay.io:443"],
          caFile: CA_FILE,
        }),
      ),
    ).toEqual({
      mirrors: {
        "ghcr.io": { endpoint: ["https://[fd00::5]:5000"] },
        "quay.io:443": { endpoint: ["https://[fd00::5]:5000"] },
        "[fd00::5]:5000": { endpoint: ["https://[fd00::5]:5000"] },
      },
      configs: { "[fd00::5]:5000": { tls: { ca_file: K3S.registryCa } } },
    });
  });

  it("units: groundcrew's own, per role, settings only in config.yaml", () => {
    expect(unitPath("server")).toBe("/etc/systemd/system/k3s.service");
    expect(unitPath("agent")).toBe("/etc/systemd/system/k3s-agent.service");
    const unit = renderUnit("agent");
    expect(unit).toContain("\nExecStart=/usr/local/bin/k3s agent\nKillMode=process\nDelegate=yes\n");
    expect(unit).toContain("\nType=exec\n");
    expect(unit).not.toMatch(/EnvironmentFile|--token|K3S_TOKEN/);
    expect(renderUnit("server")).toContain("\nExecStart=/usr/local/bin/k3s server\n");
  });

  it("parseNodeList accepts a NodeList and nothing else", () => {
    expect(parseNodeList('{"items":[{"metadata":{"name":"a"}}]}')?.items[0]).toEqual({
      metadata: { name: "a", labels: {}, annotations: {} },
      spec: {},
      status: { conditions: [], allocatable: {} },
    });
    expect(parseNodeList("not json")).toBeUndefined();
    expect(parseNodeList('{"kind":"Status"}')).toBeUndefined();
  });
});

describe("k3s.install", () => {
  it("installs a cluster-init server: binary, links, images, config 0600 with the token, registries, unit; Ready; then done", async () => {
    const host = k3sHost("server");
    const step = stepHarness(k3sInstallStep, host, serverParams());
    expect(step.bound.title).toBe("Install k3s (server, cluster-init)");
    expect(await step.check()).toEqual({
      done: false,
      reason:
        `${K3S.binary} is missing or another build; ${IMAGE_FILE} is missing; ${K3S.config} is missing or differs; ` +
        `${unitPath("server")} is missing or differs; ${K3S.registries} is missing or differs; ` +
        `${K3S.registryCa} is missing or differs; k3s.service is not active`,
    });
    const result = await step.apply();
    expect(result).toEqual({
      changes: [
        `installed ${K3S.binary} from k3s/k3s`,
        `placed ${IMAGE_FILE}`,
        `wrote ${K3S.config}`,
        `wrote ${unitPath("server")}`,
        `wrote ${K3S.registries}`,
        `wrote ${K3S.registryCa}`,
        "(re)started k3s.service",
      ],
    });
    await step.verify();
    expect(
      host.exec
        .commandLines()
        .filter((line) => !/^(sha256sum|systemctl is-active|\/usr\/local\/bin\/k3s kubectl)/.test(line)),
    ).toEqual([
      `install -m 0755 ${CAS}/${BIN_SHA} ${K3S.binary}`,
      `ln -s k3s ${K3S.symlinks[0]}`,
      `ln -s k3s ${K3S.symlinks[1]}`,
      `ln -s k3s ${K3S.symlinks[2]}`,
      `cp ${CAS}/${IMAGES_SHA} ${IMAGE_FILE}.partial`,
      "systemctl daemon-reload",
      "systemctl enable k3s.service",
      "systemctl restart k3s.service",
    ]);
    expect(step.logs).toEqual(["waiting up to 5 s for k3s to be ready"]);

    // config.yaml: 0600, every key of the plan and the token from its file.
    expect(host.fs.modeOf(K3S.config)).toBe(0o600);
    const configText = await host.fs.readText(K3S.config);
    expect(configText.startsWith("# Written by groundcrew (k3s.install).\n")).toBe(true);
    expect(parse(configText)).toEqual({ ...serverParams().config, token: TOKEN });
    expect(configText).not.toMatch(/^server:/m);
    expect(host.fs.modeOf(K3S.registries)).toBe(0o600);
    expect(parse(await host.fs.readText(K3S.registries))).toMatchObject({
      mirrors: { "docker.io": { endpoint: ["https://10.0.0.5:5000"] } },
      configs: { "10.0.0.5:5000": { tls: { ca_file: K3S.registryCa } } },
    });
    expect(await host.fs.readText(K3S.registryCa)).toBe(CA_PEM);
    expect(host.fs.modeOf(K3S.registryCa)).toBe(0o644);
    expect(await host.fs.readText(unitPath("server"))).toBe(renderUnit("server"));
    expect(host.fs.modeOf(K3S.binary)).toBe(0o755);
    // Airgap images in place (no .partial left) and an empty .cache.json for conditional import.
    expect(await host.fs.readText(IMAGE_FILE)).toBe(IMAGES_CONTENT);
    expect(await host.fs.stat(`${IMAGE_FILE}.partial`)).toBeUndefined();
    expect(await host.fs.readText(`${K3S.imagesDir}/.cache.json`)).toBe("");

    const record = await step.ledger.read();
    expect(record?.trees).toEqual([
      "/etc/rancher",
      "/var/lib/rancher",
      "/var/lib/kubelet",
      "/var/lib/cni",
      "/run/k3s",
      "/run/flannel",
      K3S.binary,
      ...K3S.symlinks,
    ]);
    expect(record?.files.map((file) => [file.path, file.mode, file.previous])).toEqual([
      [K3S.config, 0o600, null],
      [unitPath("server"), 0o644, null],
      [K3S.registries, 0o600, null],
      [K3S.registryCa, 0o644, null],
    ]);

    // The token is in config.yaml alone: never in what the step reports, logs or records.
    expect(mentionsToken([result, step.logs, step.progress, record, step.bound.title])).toEqual([]);
    expect(await step.check()).toEqual({ done: true, reason: "k3s server runs with the wanted files" });

    // A second apply changes nothing and does not restart k3s.
    const calls = host.exec.calls.length;
    expect(await step.apply()).toEqual({ changes: [] });
    expect(host.exec.commandLines().slice(calls)).not.toContain("systemctl restart k3s.service");
    expect(host.systemd.restarts.get("k3s.service") ?? 0).toBe(0);
  });

  it("undo stops k3s, cleans what k3s-killall.sh cleans, and removes every file and tree: the host is as before", async () => {
    const host = k3sHost("server", { extra: { ...SHIM_LINK, ...VETH_MASTER } });
    // The fake Fs cannot make symbolic links later, so the shim's /proc/<pid>/exe and the pod veth's master
    // link are in the tree from the start; the host before k3s is the tree without them.
    const before = Object.fromEntries(
      Object.entries(hostTree(host.fs)).filter(([path]) => !(path in SHIM_LINK) && !(path in VETH_MASTER)),
    );
    const step = stepHarness(k3sInstallStep, host, serverParams());
    await step.apply();
    expect(host.state.iptables).toContain("KUBE-FIREWALL");

    const result = await step.undo();
    expect(result.changes).toEqual([
      "stopped and disabled k3s.service",
      "killed 1 process(es) left by k3s",
      "unmounted 2 k3s/kubelet mount(s)",
      "deleted veth1a2b3c, cni0, flannel.1, netns cni-1234",
      "removed 5 iptables line(s) of k3s (KUBE-, CNI-, flannel)",
      `removed ${K3S.registryCa}`,
      `removed ${K3S.registries}`,
      `removed ${unitPath("server")}`,
      `removed ${K3S.config}`,
      "removed /etc/rancher",
      "removed /var/lib/rancher",
      "removed /var/lib/kubelet",
      "removed /var/lib/cni",
      "removed /run/k3s",
      "removed /run/flannel",
      `removed ${K3S.binary}`,
      ...K3S.symlinks.map((link) => `removed ${link}`),
    ]);
    expect(host.exec.commandLines()).toContain("kill -9 4242");
    expect(host.exec.commandLines().slice(-2)).toEqual(["systemctl daemon-reload", "systemctl reset-failed"]);
    // Longest mount point first, so nested mounts go before their parents.
    expect(host.exec.commandLines().filter((line) => line.startsWith("umount"))).toEqual([
      "umount -f /run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs",
      "umount -f /var/lib/kubelet/pods/p1/volumes/kubernetes.io~projected/token",
    ]);
    expect(host.state.iptables).toBe(IPTABLES_BEFORE.join("\n"));
    expect(host.systemd.active.size).toBe(0);
    expect(mentionsToken([result])).toEqual([]);
    expect(hostTree(host.fs)).toEqual(before);
    expect(await step.ledger.read()).toMatchObject({ files: [], directories: [], trees: [] });
  });

  it("joins an agent to the server URL without server-only keys; Ready when the unit stays up without restarting", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout"] });
    const host = k3sHost("agent", { extra: { ...SHIM_LINK, ...VETH_MASTER } });
    const before = Object.fromEntries(
      Object.entries(hostTree(host.fs)).filter(([path]) => !(path in SHIM_LINK) && !(path in VETH_MASTER)),
    );
    const step = stepHarness(k3sInstallStep, host, agentParams());
    expect(step.bound.title).toBe("Install k3s (agent)");
    const applying = step.apply();
    await vi.advanceTimersByTimeAsync(6_000);
    expect((await applying).changes).toEqual([
      `installed ${K3S.binary} from k3s/k3s`,
      `wrote ${K3S.config}`,
      `wrote ${unitPath("agent")}`,
      `wrote ${K3S.registries}`,
      "(re)started k3s-agent.service",
    ]);
    const config = parse(await host.fs.readText(K3S.config)) as Record<string, unknown>;
    expect(config).toEqual({
      "node-name": "worker1",
      "node-ip": "10.0.0.7",
      server: "https://10.0.0.5:6443",
      token: TOKEN,
    });
    expect(parse(await host.fs.readText(K3S.registries))).toEqual({
      mirrors: {
        "docker.io": { endpoint: ["http://10.0.0.5:5000"] },
        "10.0.0.5:5000": { endpoint: ["http://10.0.0.5:5000"] },
      },
    });
    expect(await host.fs.stat(K3S.registryCa)).toBeUndefined();
    expect(host.exec.commandLines()).toContain(
      "systemctl show --property NRestarts --value k3s-agent.service",
    );
    expect(host.exec.commandLines()).not.toContain(`${K3S.binary} kubectl get nodes -o json`);
    expect(await step.check()).toEqual({ done: true, reason: "k3s agent runs with the wanted files" });

    // A unit that restarted meanwhile (a refused join) is not ready.
    const verifying = step.verify().catch((error: unknown) => error);
    host.systemd.restarts.set("k3s-agent.service", 3);
    await vi.advanceTimersByTimeAsync(6_000);
    expect(await verifying).toMatchObject({
      code: "K3S_NOT_READY",
      message: "k3s agent is not ready",
    });

    await step.undo();
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("fails with K3S_NOT_READY and the unit's last log lines (never the token) when the node does not become Ready", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "Date"] });
    const host = k3sHost("server");
    host.exec.answer("systemctl restart k3s.service", {});
    const step = stepHarness(k3sInstallStep, host, serverParams());
    const applying = step.apply().catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(6_000);
    const error = await applying;
    expect(error).toMatchObject({
      code: "K3S_NOT_READY",
      message:
        'k3s server is not ready after 5 s; last lines of k3s.service: level=info msg="Starting k3s" | ' +
        'level=fatal msg="failed to find cpuset cgroup (v2)"',
    });
    expect(JSON.stringify(error)).not.toContain(TOKEN);
    expect(String(error)).not.toContain(TOKEN);
  });

  it("restarts k3s when config.yaml changed, and installs a new build over its own", async () => {
    const host = k3sHost("server");
    await stepHarness(k3sInstallStep, host, serverParams()).apply();
    const changed = serverParams({
      binary: { sha256: NEW_BIN_SHA, size: 100, path: "k3s/k3s-new", kind: "k3s-binary" },
    });
    changed.config = { ...changed.config, "node-taint": [] };
    const step = stepHarness(k3sInstallStep, host, changed);
    expect((await step.check()).reason).toBe(
      `${K3S.binary} is missing or another build; ${K3S.config} is missing or differs`,
    );
    expect((await step.apply()).changes).toEqual([
      `installed ${K3S.binary} from k3s/k3s-new`,
      `wrote ${K3S.config}`,
      "(re)started k3s.service",
    ]);
    expect(host.systemd.restarts.get("k3s.service")).toBe(1);
    expect(parse(await host.fs.readText(K3S.config))).not.toHaveProperty("node-taint");
    // The config the agent wrote first is still the one undo compares with: it was recorded once, without a previous version.
    expect((await step.ledger.read())?.files.find((file) => file.path === K3S.config)?.previous).toBeNull();
  });

  it("leaves what was there before k3s alone: an existing /var/lib/rancher, kubectl, and someone else's k3s on a host it never installed", async () => {
    const host = k3sHost("server", {
      extra: {
        "/var/lib/rancher/rke2/server/db/state.db": "(operator data)",
        "/usr/local/bin/kubectl": "(kubectl 1.29)",
      },
    });
    const step = stepHarness(k3sInstallStep, host, serverParams());
    await step.apply();
    expect(host.exec.commandLines()).not.toContain("ln -s k3s /usr/local/bin/kubectl");
    const trees = (await step.ledger.read())?.trees ?? [];
    expect(trees).not.toContain("/var/lib/rancher");
    expect(trees).not.toContain("/usr/local/bin/kubectl");
    await step.undo();
    expect(await host.fs.readText("/var/lib/rancher/rke2/server/db/state.db")).toBe("(operator data)");
    expect(await host.fs.readText("/usr/local/bin/kubectl")).toBe("(kubectl 1.29)");
    expect(host.exec.commandLines()).not.toContain("rm -rf -- /var/lib/rancher");

    // A host where k3s.install never ran but k3s runs (someone else's): undo touches nothing of it.
    const foreign = k3sHost("server", { extra: { ...SHIM_LINK, ...VETH_MASTER } });
    const foreignStep = stepHarness(k3sInstallStep, foreign, serverParams());
    foreign.state.iptables = `${IPTABLES_BEFORE.join("\n")}\n-A INPUT -j KUBE-FIREWALL\n`;
    const foreignBefore = hostTree(foreign.fs);
    expect(await foreignStep.undo()).toEqual({ changes: [] });
    expect(
      foreign.exec
        .commandLines()
        .filter((line) => /^(kill|umount|ip |iptables|ip6tables|rm |systemctl disable)/.test(line)),
    ).toEqual([]);
    expect(foreign.state.iptables).toContain("KUBE-FIREWALL");
    expect(hostTree(foreign.fs)).toEqual(foreignBefore);
  });

  it("never takes over a k3s someone else installed: check says so, apply refuses with K3S_PRESENT and changes nothing", async () => {
    for (const found of [K3S.binary, unitPath("server"), unitPath("agent")]) {
      const host = k3sHost("server", { extra: { [found]: "(installed by get.k3s.io)" } });
      const before = hostTree(host.fs);
      const step = stepHarness(k3sInstallStep, host, serverParams());
      const reason = `k3s is already installed here, not by groundcrew (${found}): groundcrew does not take it over; uninstall it (k3s-uninstall.sh) or leave this host out`;
      expect(await step.check()).toEqual({ done: false, reason });
      await expect(step.apply()).rejects.toMatchObject({ code: "K3S_PRESENT", message: reason });
      expect(hostTree(host.fs)).toEqual(before);
      expect(await step.ledger.read()).toBeUndefined();
    }
  });

  it("refuses an empty token file (STEP_PARAMS_INVALID naming the file, not a value) and a missing one (HOST_IO_FAILED)", async () => {
    const empty = k3sHost("server", { extra: { [TOKEN_FILE]: "\n" } });
    await expect(stepHarness(k3sInstallStep, empty, serverParams()).check()).rejects.toMatchObject({
      code: "STEP_PARAMS_INVALID",
      message: `the join token file ${TOKEN_FILE} is empty`,
    });
    const missing = k3sHost("server");
    await missing.fs.remove(TOKEN_FILE);
    await expect(stepHarness(k3sInstallStep, missing, serverParams()).apply()).rejects.toMatchObject({
      code: "HOST_IO_FAILED",
      message: expect.stringMatching(new RegExp(`^cannot read ${TOKEN_FILE}`)) as unknown,
    });
  });

  it("validates params: role, config keys, server URL, token only through a file", () => {
    const ok = serverParams();
    expect(() => k3sInstallStep.bind({ ...ok, role: "worker" })).toThrow(
      /parameters of k3s.install are not valid at role/,
    );
    expect(() => k3sInstallStep.bind({ ...ok, config: { ...ok.config, token: TOKEN } })).toThrow(
      /not valid at config: Unrecognized key\(s\) in object: 'token'/,
    );
    expect(() =>
      k3sInstallStep.bind({ ...ok, config: { ...ok.config, server: "http://10.0.0.5:6443" } }),
    ).toThrow(/not valid at config.server/);
    expect(() => k3sInstallStep.bind({ ...ok, config: { ...ok.config, "node-name": "Master_1" } })).toThrow(
      /not valid at config.node-name/,
    );
    expect(() =>
      k3sInstallStep.bind({ ...ok, config: { ...ok.config, "write-kubeconfig-mode": "644" } }),
    ).toThrow(/not valid at config.write-kubeconfig-mode/);
    expect(() => k3sInstallStep.bind({ ...ok, tokenFile: "k3s-token" })).toThrow(/not valid at tokenFile/);
    expect(() => k3sInstallStep.bind({ ...ok, readyTimeoutSec: 1 })).toThrow(/not valid at readyTimeoutSec/);
    expect(() =>
      k3sInstallStep.bind({ ...ok, registry: { ...ok.registry, mirrors: ["https://docker.io"] } }),
    ).toThrow(/not valid at registry.mirrors.0/);
    expect(() => k3sInstallStep.bind({ ...ok, token: TOKEN })).toThrow(/Unrecognized key/);
  });
});
