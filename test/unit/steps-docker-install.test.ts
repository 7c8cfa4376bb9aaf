import { describe, expect, it } from "vitest";
import { dockerInstallStep } from "../../agent/steps/docker-install.js";
import { DOCKER_RULES } from "../../agent/steps/docker-leftovers.js";
import { fakeExec, type FakeExec } from "../fakes/fake-exec.js";
import { fakeFs, type FakeFs } from "../fakes/fake-fs.js";
import { stepHarness } from "../fakes/step-harness.js";

const CAS = "/var/lib/groundcrew/cas/sha256";
const DEBS = [
  {
    sha256: "a".repeat(64),
    size: 10,
    path: "debs/containerd.deb",
    kind: "deb",
    name: "containerd",
    version: "1.6.20",
  },
  { sha256: "b".repeat(64), size: 10, path: "debs/runc.deb", kind: "deb", name: "runc", version: "1.1.5" },
  {
    sha256: "c".repeat(64),
    size: 10,
    path: "debs/docker.io.deb",
    kind: "deb",
    name: "docker.io",
    version: "20.10.24",
  },
] as const;
const PARAMS = { debs: DEBS.map(({ sha256, size, path, kind }) => ({ sha256, size, path, kind })) };

/**
 * A Debian host as dpkg, systemd and getent show it: `installed` packages,
 * whether docker runs, the docker group. dpkg --install adds the packages,
 * creates Docker's data trees and group and starts docker; dpkg --purge
 * removes packages; systemctl and groupdel change what they should.
 */
function debianHost(options: { installed?: Record<string, string>; dockerd?: boolean } = {}) {
  const installed = new Map(Object.entries(options.installed ?? {}));
  const state = { active: false, group: false };
  const fs: FakeFs = fakeFs(options.dockerd === true ? { "/usr/bin/dockerd": "elf" } : {});
  const exec: FakeExec = fakeExec();
  for (const deb of DEBS) {
    exec.answer(`dpkg-deb --field ${CAS}/${deb.sha256} Package Version`, {
      stdout: `Package: ${deb.name}\nVersion: ${deb.version}\n`,
    });
  }
  const names = DEBS.map((deb) => deb.name);
  exec.answer(`dpkg-query -W -f=\${Package} \${db:Status-Abbrev} \${Version}\\n ${names.join(" ")}`, () => ({
    stdout: [...installed].map(([name, version]) => `${name} ii  ${version}`).join("\n"),
    code: installed.size === names.length ? 0 : 1,
  }));
  exec.answer("systemctl is-active --quiet docker.service", () => ({ code: state.active ? 0 : 3 }));
  exec.answer("getent group docker", () => ({ code: state.group ? 0 : 2 }));
  exec.answer("groupdel docker", () => {
    state.group = false;
    return {};
  });
  exec.answer("docker version --format {{.Server.Version}}", () =>
    state.active ? { stdout: "20.10.24\n" } : { code: 1 },
  );
  for (const tree of ["/var/lib/docker", "/var/lib/containerd", "/etc/docker", "/etc/cni"]) {
    exec.answer(`rm -rf -- ${tree}`, {});
  }
  exec.answer("systemctl disable --now docker.service docker.socket containerd.service", () => {
    state.active = false;
    return {};
  });
  return {
    fs,
    exec,
    installed,
    state,
    /** Wires dpkg --install for these files. */
    onInstall(files: readonly string[]) {
      exec.answer(`dpkg --install --force-confold ${files.join(" ")}`, async () => {
        for (const deb of DEBS)
          if (files.includes(`${CAS}/${deb.sha256}`)) installed.set(deb.name, deb.version);
        for (const tree of ["/var/lib/docker", "/var/lib/containerd", "/etc/docker"])
          await fs.mkdirp(tree, 0o755);
        state.group = true;
        state.active = true;
        return {};
      });
    },
    onPurge(packages: readonly string[]) {
      exec.answer(`dpkg --purge ${packages.join(" ")}`, () => {
        for (const name of packages) installed.delete(name);
        return {};
      });
    },
  };
}

describe("docker.install", () => {
  it("installs the missing packages in one dpkg call after recording them, then is done; undo removes exactly that", async () => {
    const host = debianHost({ installed: { runc: "1.1.5" } });
    const step = stepHarness(dockerInstallStep, host, PARAMS);
    expect(await step.check()).toEqual({
      done: false,
      reason: "not installed: containerd, docker.io; docker is not active",
    });
    host.onInstall([`${CAS}/${"a".repeat(64)}`, `${CAS}/${"c".repeat(64)}`]);
    expect(await step.apply()).toEqual({ changes: ["installed containerd 1.6.20, docker.io 20.10.24"] });
    await step.verify();
    const record = await step.ledger.read();
    // runc was there before: not ours, never purged.
    expect(record?.packages).toEqual(["containerd", "docker.io"]);
    expect(record?.trees).toEqual(["/var/lib/docker", "/var/lib/containerd", "/etc/docker", "/etc/cni"]);
    expect(record?.groups).toEqual(["docker"]);
    expect(await step.check()).toEqual({
      done: true,
      reason: "every Docker package is installed, configured, and docker is active",
    });
    // The record is written before dpkg runs.
    const dpkg = host.exec.commandLines().findIndex((line) => line.startsWith("dpkg --install"));
    expect(dpkg).toBeGreaterThan(0);
    expect(host.exec.calls[dpkg]?.options?.env).toEqual({ DEBIAN_FRONTEND: "noninteractive" });

    host.onPurge(["containerd", "docker.io"]);
    expect((await step.undo()).changes).toEqual([
      "stopped docker",
      "purged containerd, docker.io",
      "removed /var/lib/docker",
      "removed /var/lib/containerd",
      "removed /etc/docker",
      "removed /etc/cni",
      "removed group docker",
    ]);
    expect([...host.installed.keys()]).toEqual(["runc"]);
    expect(host.state.group).toBe(false);
    expect(await step.ledger.read()).toMatchObject({ packages: [], trees: [], groups: [] });
  });

  it("adopts a Docker that was there before and never touches it, not even on undo", async () => {
    const host = debianHost({ dockerd: true, installed: { "docker.io": "20.10.5" } });
    const step = stepHarness(dockerInstallStep, host, PARAMS);
    expect(await step.check()).toEqual({
      done: true,
      reason:
        "Docker was already installed (/usr/bin/dockerd), not by groundcrew: adopted as it is, left alone by reset",
    });
    expect((await step.undo()).changes).toEqual([]);
    expect(
      host.exec.commandLines().filter((line) => /dpkg --(install|purge)|groupdel|disable/.test(line)),
    ).toEqual([]);
  });

  it("is idempotent: a second apply installs nothing", async () => {
    const host = debianHost();
    const step = stepHarness(dockerInstallStep, host, PARAMS);
    host.onInstall(DEBS.map((deb) => `${CAS}/${deb.sha256}`));
    await step.apply();
    expect(await step.apply()).toEqual({ changes: [] });
    expect(host.exec.commandLines().filter((line) => line.startsWith("dpkg --install"))).toHaveLength(1);
  });

  it("fails with dpkg's own words when a dependency is missing, leaving the record for undo", async () => {
    const host = debianHost();
    const step = stepHarness(dockerInstallStep, host, PARAMS);
    host.exec.answer(
      `dpkg --install --force-confold ${DEBS.map((deb) => `${CAS}/${deb.sha256}`).join(" ")}`,
      {
        code: 1,
        stderr:
          "dpkg: dependency problems prevent configuration of docker.io:\n docker.io depends on libdevmapper1.02.1",
      },
    );
    await expect(step.apply()).rejects.toThrow(/docker\.io depends on libdevmapper1\.02\.1/);
    expect((await step.ledger.read())?.packages).toEqual(["containerd", "runc", "docker.io"]);
  });

  it("has nothing to undo where it never ran (a reset's plan carries no packages)", async () => {
    const host = debianHost();
    const step = stepHarness(dockerInstallStep, host, {});
    expect((await step.undo()).changes).toEqual([]);
    expect(host.exec.commandLines()).toEqual([]);
  });

  it("takes dockerd's iptables lines for its own, not an outer engine's embedded DNS chains", () => {
    const ours = [
      ":DOCKER - [0:0]",
      ":DOCKER-USER - [0:0]",
      ":DOCKER-ISOLATION-STAGE-1 - [0:0]",
      "-A FORWARD -j DOCKER-FORWARD",
      "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
      "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
    ];
    const theirs = [
      ":DOCKER_OUTPUT - [0:0]",
      ":DOCKER_POSTROUTING - [0:0]",
      "-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT",
      "-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p udp -m udp --sport 56050 -j SNAT --to-source :53",
      ":INPUT ACCEPT [0:0]",
    ];
    expect(ours.filter((line) => !DOCKER_RULES.test(line))).toEqual([]);
    expect(theirs.filter((line) => DOCKER_RULES.test(line))).toEqual([]);
  });
});
