import { describe, expect, it } from "vitest";
import { dockerStaticStep } from "../../agent/steps/docker-static.js";
import {
  renderContainerdUnit,
  renderDockerUnit,
  STATIC_BINARIES,
} from "../../agent/steps/docker-static-units.js";
import { resetSteps } from "../../server/orchestrate/plan.js";
import { directory, symlink, type FakeTree } from "../fakes/fake-fs.js";
import { fakeSystemd } from "../fakes/fake-systemd.js";
import { fakePrepHost } from "../fakes/prep-host.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

const CAS = "/var/lib/groundcrew/cas/sha256";
const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);
const SCRATCH = "/tmp/groundcrew-docker.Xy12ab";
const MEMBERS = STATIC_BINARIES.map((name) => `docker/${name}`).join(" ");
const UNPACKED = STATIC_BINARIES.map((name) => `${SCRATCH}/docker/${name}`).join(" ");
const CONTAINERD_UNIT = "/etc/systemd/system/containerd.service";
const DOCKER_UNIT = "/etc/systemd/system/docker.service";
const WANTS = "/etc/systemd/system/multi-user.target.wants";
const CA = "/var/lib/groundcrew/agent/tls/ca.pem";
const IMAGE = "10.0.0.5:5000/library/busybox:stable";
const DOCKER_IPTABLES = [":DOCKER - [0:0]", ":DOCKER-USER - [0:0]", "-A FORWARD -j DOCKER-USER"];

const artifact = (sha256 = SHA_A) => ({
  sha256,
  size: 1234,
  path: "docker/amd64/docker-29.8.1.tgz",
  kind: "docker-static",
});

/**
 * A Debian host without Docker, with two static tarballs in its store:
 * mktemp, tar and install unpack and copy the binaries (content names the
 * tarball), rm -rf deletes, getent/groupadd/groupdel keep the `docker`
 * group; systemd runs containerd (which makes its state trees) and docker
 * (its trees, docker0 and its iptables lines; only with containerd up);
 * docker answers while it runs.
 */
function staticHost(extra: FakeTree = {}) {
  const host = fakePrepHost({
    swap: false,
    extra: {
      "/usr/local/bin": directory(),
      "/tmp": directory(),
      "/opt": directory(),
      [`${CAS}/${SHA_A}`]: "(tarball a)",
      [`${CAS}/${SHA_B}`]: "(tarball b)",
      [CA]: "(groundcrew CA)",
      ...extra,
    },
  });
  const { fs, exec } = host;
  const state = { group: false, bridge: false, rules: false };
  exec.answer("mktemp -d /tmp/groundcrew-docker.XXXXXX", async () => {
    await fs.mkdirp(SCRATCH, 0o700);
    return { stdout: `${SCRATCH}\n` };
  });
  for (const sha of [SHA_A, SHA_B]) {
    exec.answer(`tar -xzf ${CAS}/${sha} -C ${SCRATCH} ${MEMBERS}`, async () => {
      await fs.mkdirp(`${SCRATCH}/docker`, 0o755);
      for (const name of STATIC_BINARIES)
        await fs.writeFileAtomic(`${SCRATCH}/docker/${name}`, `(${name} from ${sha.slice(0, 1)})`, 0o755);
      return {};
    });
  }
  const answerInstall = (names: readonly string[]) => {
    const files = names.map((name) => `${SCRATCH}/docker/${name}`).join(" ");
    exec.answer(`install -m 0755 -t /usr/local/bin ${files}`, async () => {
      for (const name of names) {
        const content = await fs.readText(`${SCRATCH}/docker/${name}`);
        await fs.writeFileAtomic(`/usr/local/bin/${name}`, content, 0o755);
      }
      return {};
    });
  };
  answerInstall(STATIC_BINARIES);
  exec.answer("getent group docker", () => ({ code: state.group ? 0 : 2 }));
  exec.answer("groupadd --system docker", () => {
    state.group = true;
    return {};
  });
  exec.answer("groupdel docker", () => {
    state.group = false;
    return {};
  });
  const systemd = fakeSystemd(exec, fs, {
    "containerd.service": {
      start: async () => {
        for (const tree of [
          "/var/lib/containerd",
          "/run/containerd",
          "/opt/containerd/bin",
          "/etc/cni/net.d",
        ])
          await fs.mkdirp(tree, 0o755);
        return undefined;
      },
    },
    "docker.service": {
      start: async () => {
        if (!systemd.active.has("containerd.service")) return new Error("containerd is not running");
        for (const tree of ["/var/lib/docker", "/run/docker", "/etc/docker"]) await fs.mkdirp(tree, 0o755);
        state.bridge = true;
        state.rules = true;
        return undefined;
      },
    },
  });
  exec.answer("docker version --format {{.Server.Version}}", () =>
    systemd.active.has("docker.service") ? { stdout: "29.8.1\n" } : { code: 1, stderr: "Cannot connect" },
  );
  exec.answer("ip link show docker0", () => ({ code: state.bridge ? 0 : 1 }));
  exec.answer("ip link delete docker0", () => {
    state.bridge = false;
    return {};
  });
  exec.answer("iptables-save", () => ({
    stdout: ["*filter", ":INPUT ACCEPT [0:0]", ...(state.rules ? DOCKER_IPTABLES : []), "COMMIT", ""].join(
      "\n",
    ),
  }));
  exec.answer("iptables-restore", (_argv, options) => {
    state.rules = options?.input?.includes("DOCKER") === true;
    return {};
  });
  exec.answer("ip6tables-save", { stdout: "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n" });
  for (const tree of [
    SCRATCH,
    ...STATIC_BINARIES.map((name) => `/usr/local/bin/${name}`),
    "/var/lib/docker",
    "/var/lib/containerd",
    "/etc/docker",
    "/etc/cni",
    "/opt/containerd",
    "/run/docker",
    "/run/containerd",
  ]) {
    exec.answer(`rm -rf -- ${tree}`, async () => {
      await fs.remove(tree);
      return {};
    });
  }
  return { ...host, state, systemd, answerInstall };
}

const installCommands = (sha: string) => [
  "mktemp -d /tmp/groundcrew-docker.XXXXXX",
  `tar -xzf ${CAS}/${sha} -C ${SCRATCH} ${MEMBERS}`,
  `install -m 0755 -t /usr/local/bin ${UNPACKED}`,
  `rm -rf -- ${SCRATCH}`,
];
const startCommands = (verb: "start" | "restart") => [
  "systemctl enable containerd.service",
  "systemctl enable docker.service",
  `systemctl ${verb} containerd.service`,
  `systemctl ${verb} docker.service`,
];

describe("docker.static", () => {
  it("installs the binaries and its own units on a fresh host, starts them and is done; undo leaves the host as it was", async () => {
    const host = staticHost();
    const before = hostTree(host.fs);
    const step = stepHarness(dockerStaticStep, host, { artifact: artifact() });
    expect(step.bound.title).toBe("Install Docker from the bundle's static binaries (docker-29.8.1.tgz)");
    expect(await step.check()).toEqual({
      done: false,
      reason:
        `not in /usr/local/bin: ${STATIC_BINARIES.join(", ")}; ${CONTAINERD_UNIT} is missing or differs; ` +
        `${DOCKER_UNIT} is missing or differs; group docker is missing; containerd.service is not active; ` +
        "docker.service is not active",
    });
    const probes = host.exec.calls.length;
    expect(await step.apply()).toEqual({
      changes: [
        `installed ${STATIC_BINARIES.join(", ")} in /usr/local/bin from docker/amd64/docker-29.8.1.tgz`,
        "created group docker",
        `wrote ${CONTAINERD_UNIT}`,
        `wrote ${DOCKER_UNIT}`,
        "started containerd and docker",
      ],
    });
    expect(host.exec.commandLines().slice(probes)).toEqual([
      "systemctl is-active --quiet docker.service",
      "systemctl is-active --quiet containerd.service",
      ...installCommands(SHA_A),
      "getent group docker",
      "groupadd --system docker",
      "systemctl daemon-reload",
      ...startCommands("restart"),
    ]);
    await step.verify();
    expect(step.logs).toEqual(["Docker 29.8.1 answers"]);
    for (const name of STATIC_BINARIES) {
      expect(await host.fs.readText(`/usr/local/bin/${name}`)).toBe(`(${name} from a)`);
      expect(host.fs.modeOf(`/usr/local/bin/${name}`)).toBe(0o755);
    }
    expect(await host.fs.readText(CONTAINERD_UNIT)).toBe(renderContainerdUnit(SHA_A));
    expect(await host.fs.readText(DOCKER_UNIT)).toBe(renderDockerUnit(SHA_A));
    expect(host.fs.modeOf(DOCKER_UNIT)).toBe(0o644);
    expect(renderDockerUnit(SHA_A)).toContain(
      "ExecStart=/usr/local/bin/dockerd --containerd=/run/containerd/containerd.sock\n",
    );
    expect(renderContainerdUnit(SHA_A)).toContain("ExecStart=/usr/local/bin/containerd\n");
    for (const unit of [renderContainerdUnit(SHA_A), renderDockerUnit(SHA_A)]) {
      expect(unit).toContain(`tarball sha256 ${SHA_A}.\n`);
      expect(unit).toContain("\nDelegate=yes\nKillMode=process\n");
    }
    expect(await host.fs.readText(`${WANTS}/docker.service`)).toBe(`(link to ${DOCKER_UNIT})`);
    expect((await host.fs.readDir("/tmp")).filter((name) => name.startsWith("groundcrew"))).toEqual([]);
    const record = await step.ledger.read();
    expect(record?.trees).toEqual([
      ...STATIC_BINARIES.map((name) => `/usr/local/bin/${name}`),
      "/var/lib/docker",
      "/var/lib/containerd",
      "/etc/docker",
      "/etc/cni",
      "/opt/containerd",
      "/run/docker",
      "/run/containerd",
    ]);
    expect(record?.groups).toEqual(["docker"]);
    expect(record?.files.map((file) => [file.path, file.mode, file.previous])).toEqual([
      [CONTAINERD_UNIT, 0o644, null],
      [DOCKER_UNIT, 0o644, null],
    ]);
    expect(await step.check()).toEqual({
      done: true,
      reason: "Docker's static binaries are installed, configured, and docker is active",
    });

    // Idempotent: a second apply only reads.
    const calls = host.exec.calls.length;
    const writes = host.fs.writes.length;
    expect(await step.apply()).toEqual({ changes: [] });
    expect(host.exec.commandLines().slice(calls)).toEqual([
      "getent group docker",
      "systemctl is-active --quiet containerd.service",
      "systemctl is-active --quiet docker.service",
    ]);
    expect(host.fs.writes.slice(writes)).toEqual([]);

    const undoFrom = host.exec.calls.length;
    expect(await step.undo()).toEqual({
      changes: [
        "stopped and disabled docker and containerd",
        "deleted docker0",
        "removed 3 iptables line(s) of Docker (DOCKER chains, docker0)",
        `removed ${DOCKER_UNIT}`,
        `removed ${CONTAINERD_UNIT}`,
        ...STATIC_BINARIES.map((name) => `removed /usr/local/bin/${name}`),
        "removed /var/lib/docker",
        "removed /var/lib/containerd",
        "removed /etc/docker",
        "removed /etc/cni",
        "removed /opt/containerd",
        "removed /run/docker",
        "removed /run/containerd",
        "removed group docker",
      ],
    });
    expect(host.exec.commandLines().slice(undoFrom, undoFrom + 2)).toEqual([
      "systemctl disable --now docker.service",
      "systemctl disable --now containerd.service",
    ]);
    expect(host.systemd.active.size).toBe(0);
    expect(host.state).toEqual({ group: false, bridge: false, rules: false });
    expect(hostTree(host.fs)).toEqual(before);
    expect(await step.ledger.read()).toMatchObject({ files: [], directories: [], trees: [], groups: [] });
  });

  it("configures the depot registry (daemon.json, certs.d) and verifies with the bundle's image", async () => {
    const host = staticHost();
    const before = hostTree(host.fs);
    const params = {
      artifact: artifact(),
      registry: { endpoint: "10.0.0.5:5000", caFile: CA },
      verifyImage: IMAGE,
    };
    const step = stepHarness(dockerStaticStep, host, params);
    host.exec.answer(`docker pull --quiet ${IMAGE}`, { stdout: `${IMAGE}\n` });
    host.exec.answer(`docker image inspect --format {{json .Config.Entrypoint}} ${IMAGE}`, {
      stdout: "null\n",
    });
    host.exec.answer(`docker run --rm --network none ${IMAGE} true`, {});
    const { changes } = await step.apply();
    expect(changes.slice(-3)).toEqual([
      "wrote /etc/docker/daemon.json",
      "wrote /etc/docker/certs.d/10.0.0.5:5000/ca.crt",
      "started containerd and docker",
    ]);
    expect(JSON.parse(await host.fs.readText("/etc/docker/daemon.json"))).toEqual({
      "registry-mirrors": ["https://10.0.0.5:5000"],
    });
    expect(host.fs.modeOf("/etc/docker/daemon.json")).toBe(0o644);
    expect(await host.fs.readText("/etc/docker/certs.d/10.0.0.5:5000/ca.crt")).toBe("(groundcrew CA)");
    await step.verify();
    expect(step.logs.at(-1)).toBe(`pulled ${IMAGE} through the depot registry and ran a container of it`);
    expect((await step.check()).done).toBe(true);

    // A changed daemon.json is rewritten and docker alone restarted.
    await host.fs.writeFileAtomic("/etc/docker/daemon.json", "{}\n", 0o644);
    expect((await step.check()).reason).toBe("/etc/docker/daemon.json is missing or differs");
    expect(await step.apply()).toEqual({
      changes: ["wrote /etc/docker/daemon.json", "restarted docker for its new configuration"],
    });
    expect(host.systemd.restarts.get("docker.service")).toBe(1);

    await step.undo();
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("replaces the binaries of an earlier tarball with docker stopped, keeping the first record", async () => {
    const host = staticHost();
    await stepHarness(dockerStaticStep, host, { artifact: artifact(SHA_A) }).apply();
    const step = stepHarness(dockerStaticStep, host, { artifact: artifact(SHA_B) });
    expect((await step.check()).reason).toBe(
      `${CONTAINERD_UNIT} is missing or differs; ${DOCKER_UNIT} is missing or differs`,
    );
    const calls = host.exec.calls.length;
    expect((await step.apply()).changes).toEqual([
      "stopped docker and containerd to replace their binaries",
      `installed ${STATIC_BINARIES.join(", ")} in /usr/local/bin from docker/amd64/docker-29.8.1.tgz`,
      `wrote ${CONTAINERD_UNIT}`,
      `wrote ${DOCKER_UNIT}`,
      "started containerd and docker",
    ]);
    expect(host.exec.commandLines().slice(calls, calls + 3)).toEqual([
      "systemctl is-active --quiet docker.service",
      "systemctl stop docker.service",
      "systemctl stop containerd.service",
    ]);
    expect(await host.fs.readText("/usr/local/bin/dockerd")).toBe("(dockerd from b)");
    expect((await step.ledger.read())?.trees).toContain("/usr/local/bin/dockerd");
  });

  it.each([
    ["a packaged Docker", { "/usr/bin/dockerd": "(elf)" }, "/usr/bin/dockerd"],
    ["a packaged containerd", { "/usr/bin/containerd": "(elf)" }, "/usr/bin/containerd"],
    ["a static binary of someone else's", { "/usr/local/bin/runc": "(elf)" }, "/usr/local/bin/runc"],
    ["a docker unit of someone else's", { [DOCKER_UNIT]: "[Service]\n" }, DOCKER_UNIT],
  ])("adopts %s as it is and never touches it, not even on undo", async (_what, extra, shown) => {
    const host = staticHost(extra);
    const before = hostTree(host.fs);
    const step = stepHarness(dockerStaticStep, host, { artifact: artifact() });
    expect(await step.check()).toEqual({
      done: true,
      reason: `Docker or containerd was already installed (${shown}), not by groundcrew: adopted as it is, left alone by reset`,
    });
    expect(await step.apply()).toEqual({ changes: [] });
    expect(step.logs).toEqual([`left the Docker or containerd that was already installed (${shown}) alone`]);
    expect(await step.undo()).toEqual({ changes: [] });
    expect(host.exec.commandLines()).toEqual([]);
    expect(hostTree(host.fs)).toEqual(before);
    expect(await step.ledger.read()).toBeUndefined();
  });

  it("leaves k3s's ctr link alone: not installed over, not a foreign Docker, kept by undo", async () => {
    const host = staticHost({ "/usr/local/bin/k3s": "(k3s)", "/usr/local/bin/ctr": symlink("k3s") });
    const before = hostTree(host.fs);
    const names = STATIC_BINARIES.filter((name) => name !== "ctr");
    host.answerInstall(names);
    const step = stepHarness(dockerStaticStep, host, { artifact: artifact() });
    expect((await step.check()).done).toBe(false);
    expect((await step.apply()).changes[0]).toBe(
      `installed ${names.join(", ")} in /usr/local/bin from docker/amd64/docker-29.8.1.tgz`,
    );
    expect((await step.ledger.read())?.trees).not.toContain("/usr/local/bin/ctr");
    expect((await step.check()).done).toBe(true);
    await step.undo();
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("leaves data trees and a docker group that were there before", async () => {
    const host = staticHost({ "/var/lib/docker/volumes/keep/_data/file": "operator data" });
    host.state.group = true;
    const step = stepHarness(dockerStaticStep, host, { artifact: artifact() });
    await step.apply();
    const record = await step.ledger.read();
    expect(record?.trees).not.toContain("/var/lib/docker");
    expect(record?.groups).toEqual([]);
    await step.undo();
    expect(await host.fs.readText("/var/lib/docker/volumes/keep/_data/file")).toBe("operator data");
    expect(host.state.group).toBe(true);
    expect(host.exec.commandLines()).not.toContain("groupdel docker");
  });

  it("validates its params; a reset's placeholder params bind and undo nothing where it never ran", async () => {
    const bind = (params: unknown) => () => dockerStaticStep.bind(params);
    expect(bind({ artifact: { ...artifact(), kind: "deb" } })).toThrow(
      /parameters of docker\.static are not valid at artifact: a docker-static artifact/,
    );
    expect(bind({ artifact: artifact(), verifyImage: "busybox" })).toThrow(/at verifyImage/);
    expect(bind({ artifact: artifact(), registry: { endpoint: "10.0.0.5" } })).toThrow(
      /at registry\.endpoint/,
    );
    expect(bind({ artifact: artifact(), debs: [] })).toThrow(/Unrecognized key/);
    expect(bind({})).toThrow(/at artifact/);

    const reset = resetSteps("node1").find((step) => step.id === "docker.static");
    const host = staticHost();
    const step = stepHarness(dockerStaticStep, host, reset?.params);
    expect(await step.undo()).toEqual({ changes: [] });
    expect(host.exec.commandLines()).toEqual([]);
  });
});
