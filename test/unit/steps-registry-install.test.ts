import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  REGISTRY_PATHS,
  REGISTRY_UNIT,
  registryInstallStep,
  renderRegistryConfig,
  renderRegistryUnit,
} from "../../agent/steps/registry-install.js";
import { localRegistryTarget, waitFor } from "../../agent/steps/registry-target.js";
import { buildCaCertificate, buildLeafCertificate, newKeyPair } from "../../server/pki/cert-builder.js";
import { directory } from "../fakes/fake-fs.js";
import { fakeSystemd } from "../fakes/fake-systemd.js";
import { fakePrepHost } from "../fakes/prep-host.js";
import { hostTree, stepHarness } from "../fakes/step-harness.js";

const CAS = "/var/lib/groundcrew/cas/sha256";
const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);
const SCRATCH = "/tmp/groundcrew-registry.Xy12ab";
const TLS = {
  cert: "/var/lib/groundcrew/agent/tls/registry.pem",
  key: "/var/lib/groundcrew/agent/secrets/registry-key.pem",
  ca: "/var/lib/groundcrew/agent/tls/ca.pem",
};
const ENABLE_LINK = `/etc/systemd/system/multi-user.target.wants/${REGISTRY_UNIT}`;

function binary(from: "deb" | "tarball", sha256 = SHA_A) {
  const path =
    from === "deb" ? "debs/docker-registry_2.8.2_amd64.deb" : "registry/registry_3.0.0_linux_amd64.tar.gz";
  return { artifact: { sha256, size: 1234, path, kind: from === "deb" ? "deb" : "registry" }, from };
}

/** A registry's /v2/ on loopback that answers only while `answering` (the unit runs). */
interface FakeRegistry {
  port: number;
  answering: boolean;
  close(): Promise<void>;
}

async function listen(
  make: (handler: (req: IncomingMessage, res: ServerResponse) => void) => ReturnType<typeof createHttpServer>,
): Promise<FakeRegistry> {
  const state = { answering: false };
  const server = make((req, res) => {
    if (state.answering && req.url === "/v2/") {
      res.writeHead(200, {
        "Docker-Distribution-API-Version": "registry/2.0",
        "Content-Type": "application/json",
      });
      res.end("{}");
      return;
    }
    res.writeHead(503);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get answering() {
      return state.answering;
    },
    set answering(value: boolean) {
      state.answering = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

let plain: FakeRegistry;
let secure: FakeRegistry;
const pems = { ca: "", cert: "", key: "" };

beforeAll(async () => {
  plain = await listen((handler) => createHttpServer(handler));
  const validity = {
    serial: "01",
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
  };
  const caKeys = await newKeyPair();
  pems.ca = buildCaCertificate(caKeys, "groundcrew test CA", validity);
  const leafKeys = await newKeyPair();
  pems.cert = buildLeafCertificate(
    leafKeys.publicKeyPem,
    { kind: "server", commonName: "depot", sans: [{ kind: "ip", value: "127.0.0.1" }] },
    { ...validity, serial: "02" },
    { certPem: pems.ca, keyPem: caKeys.privateKeyPem },
  );
  pems.key = leafKeys.privateKeyPem;
  secure = await listen((handler) => createHttpsServer({ cert: pems.cert, key: pems.key }, handler));
});

afterAll(async () => {
  await plain.close();
  await secure.close();
});

/**
 * A Debian host with the registry artifact in its store: mktemp, tar and
 * dpkg-deb unpack into the scratch directory, install copies with the mode,
 * rm -rf deletes; systemd runs the registry unit, which makes `registry`
 * answer on its port.
 */
function registryHost(registry: FakeRegistry, options: { tls?: boolean; storage?: boolean } = {}) {
  const host = fakePrepHost({
    swap: false,
    extra: {
      "/usr/local/bin": directory(),
      "/tmp": directory(),
      [`${CAS}/${SHA_A}`]: "(artifact a)",
      [`${CAS}/${SHA_B}`]: "(artifact b)",
      ...(options.tls === true ? { [TLS.cert]: pems.cert, [TLS.key]: pems.key, [TLS.ca]: pems.ca } : {}),
      ...(options.storage === true
        ? {
            [`${REGISTRY_PATHS.storage}/docker/registry/v2/repositories/library/busybox/_layers/link`]:
              "sha256:1",
          }
        : {}),
    },
  });
  const { fs, exec } = host;
  registry.answering = false;
  exec.answer("mktemp -d /tmp/groundcrew-registry.XXXXXX", async () => {
    await fs.mkdirp(SCRATCH, 0o700);
    return { stdout: `${SCRATCH}\n` };
  });
  for (const sha of [SHA_A, SHA_B]) {
    exec.answer(`tar -xzf ${CAS}/${sha} -C ${SCRATCH} registry`, async () => {
      await fs.writeFileAtomic(`${SCRATCH}/registry`, `(registry from ${sha.slice(0, 1)})`, 0o755);
      return {};
    });
    exec.answer(`dpkg-deb -x ${CAS}/${sha} ${SCRATCH}`, async () => {
      await fs.mkdirp(`${SCRATCH}/usr/bin`, 0o755);
      await fs.writeFileAtomic(
        `${SCRATCH}/usr/bin/docker-registry`,
        `(docker-registry from ${sha.slice(0, 1)})`,
        0o755,
      );
      return {};
    });
  }
  for (const inside of [`${SCRATCH}/registry`, `${SCRATCH}/usr/bin/docker-registry`]) {
    exec.answer(`install -m 0755 ${inside} ${REGISTRY_PATHS.binary}`, async () => {
      await fs.writeFileAtomic(REGISTRY_PATHS.binary, await fs.readText(inside), 0o755);
      return {};
    });
  }
  for (const tree of [SCRATCH, REGISTRY_PATHS.storage, REGISTRY_PATHS.binary]) {
    exec.answer(`rm -rf -- ${tree}`, async () => {
      await fs.remove(tree);
      return {};
    });
  }
  const systemd = fakeSystemd(exec, fs, {
    [REGISTRY_UNIT]: {
      start: async () => {
        const config = await fs.readText(REGISTRY_PATHS.config);
        if (!config.includes(`addr: :${registry.port}`)) return new Error("registry listens elsewhere");
        registry.answering = true;
        return undefined;
      },
      stop: () => {
        registry.answering = false;
      },
    },
  });
  return { ...host, systemd };
}

const plainParams = (from: "deb" | "tarball" = "tarball", sha256 = SHA_A) => ({
  binary: binary(from, sha256),
  port: plain.port,
});

describe("registry.install", () => {
  it("unpacks the binary, writes its config and unit, starts it and is done afterwards; undo leaves the host as it was", async () => {
    const host = registryHost(plain);
    const before = hostTree(host.fs);
    const step = stepHarness(registryInstallStep, host, plainParams());
    expect(step.bound.title).toBe(`Run the depot registry on port ${plain.port} (plain HTTP)`);
    expect(await step.check()).toEqual({
      done: false,
      reason:
        `${REGISTRY_PATHS.binary} is missing; ${REGISTRY_PATHS.config} is missing or differs; ` +
        `${REGISTRY_PATHS.source} is missing or differs; ${REGISTRY_PATHS.unit} is missing or differs; ` +
        `${REGISTRY_UNIT} is not active`,
    });
    expect(await step.apply()).toEqual({
      changes: [
        `installed ${REGISTRY_PATHS.binary} from registry/registry_3.0.0_linux_amd64.tar.gz`,
        `wrote ${REGISTRY_PATHS.config}`,
        `wrote ${REGISTRY_PATHS.source}`,
        `wrote ${REGISTRY_PATHS.unit}`,
        `started ${REGISTRY_UNIT} on port ${plain.port}`,
      ],
    });
    await step.verify();
    expect(host.exec.commandLines()).toEqual([
      `systemctl is-active --quiet ${REGISTRY_UNIT}`,
      "mktemp -d /tmp/groundcrew-registry.XXXXXX",
      `tar -xzf ${CAS}/${SHA_A} -C ${SCRATCH} registry`,
      `install -m 0755 ${SCRATCH}/registry ${REGISTRY_PATHS.binary}`,
      `rm -rf -- ${SCRATCH}`,
      "systemctl daemon-reload",
      `systemctl enable ${REGISTRY_UNIT}`,
      `systemctl restart ${REGISTRY_UNIT}`,
      `systemctl is-active --quiet ${REGISTRY_UNIT}`,
    ]);
    expect(await host.fs.readText(REGISTRY_PATHS.binary)).toBe("(registry from a)");
    expect(host.fs.modeOf(REGISTRY_PATHS.binary)).toBe(0o755);
    expect(host.fs.modeOf(REGISTRY_PATHS.storage)).toBe(0o700);
    expect(await host.fs.readText(REGISTRY_PATHS.config)).toBe(renderRegistryConfig({ port: plain.port }));
    expect(await host.fs.readText(REGISTRY_PATHS.config)).toContain(
      `    rootdirectory: /var/lib/groundcrew-registry\n  delete:\n    enabled: true\nhttp:\n  addr: :${plain.port}\n  headers:`,
    );
    expect(await host.fs.readText(REGISTRY_PATHS.source)).toBe(`${SHA_A}\n`);
    expect(await host.fs.readText(REGISTRY_PATHS.unit)).toBe(renderRegistryUnit());
    expect(renderRegistryUnit()).toContain(
      `ExecStart=${REGISTRY_PATHS.binary} serve ${REGISTRY_PATHS.config}\nEnvironment=OTEL_TRACES_EXPORTER=none\n`,
    );
    expect(await host.fs.readText(ENABLE_LINK)).toBe(`(link to ${REGISTRY_PATHS.unit})`);
    expect((await host.fs.readDir("/tmp")).filter((name) => name.startsWith("groundcrew"))).toEqual([]);
    const record = await step.ledger.read();
    expect(record?.trees).toEqual([REGISTRY_PATHS.storage, REGISTRY_PATHS.binary]);
    expect(record?.directories).toEqual(["/etc/groundcrew", REGISTRY_PATHS.dir]);
    expect(record?.files.map((file) => [file.path, file.mode, file.previous])).toEqual([
      [REGISTRY_PATHS.config, 0o644, null],
      [REGISTRY_PATHS.source, 0o644, null],
      [REGISTRY_PATHS.unit, 0o644, null],
    ]);
    expect(await step.check()).toEqual({
      done: true,
      reason: `${REGISTRY_UNIT} serves on port ${plain.port}`,
    });

    // Idempotent: nothing unpacked or written again, the running unit only started.
    const calls = host.exec.calls.length;
    const writes = host.fs.writes.length;
    expect(await step.apply()).toEqual({ changes: [`started ${REGISTRY_UNIT} on port ${plain.port}`] });
    expect(host.exec.commandLines().slice(calls)).toEqual([
      "systemctl daemon-reload",
      `systemctl enable ${REGISTRY_UNIT}`,
      `systemctl start ${REGISTRY_UNIT}`,
    ]);
    expect(
      host.fs.writes
        .slice(writes)
        .filter((write) => write.startsWith("writeFileAtomic") && !write.includes("/state/")),
    ).toEqual([]);

    expect(await step.undo()).toEqual({
      changes: [
        `stopped and disabled ${REGISTRY_UNIT}`,
        `removed ${REGISTRY_PATHS.unit}`,
        `removed ${REGISTRY_PATHS.source}`,
        `removed ${REGISTRY_PATHS.config}`,
        `removed directory ${REGISTRY_PATHS.dir}`,
        "removed directory /etc/groundcrew",
        `removed ${REGISTRY_PATHS.storage}`,
        `removed ${REGISTRY_PATHS.binary}`,
      ],
    });
    expect(plain.answering).toBe(false);
    expect(hostTree(host.fs)).toEqual(before);
    expect(await step.ledger.read()).toMatchObject({ files: [], directories: [], trees: [] });
  });

  it("unpacks Debian's docker-registry package without installing it", async () => {
    const host = registryHost(plain);
    const step = stepHarness(registryInstallStep, host, plainParams("deb"));
    expect((await step.apply()).changes[0]).toBe(
      `installed ${REGISTRY_PATHS.binary} from debs/docker-registry_2.8.2_amd64.deb`,
    );
    expect(host.exec.commandLines().slice(0, 4)).toEqual([
      "mktemp -d /tmp/groundcrew-registry.XXXXXX",
      `dpkg-deb -x ${CAS}/${SHA_A} ${SCRATCH}`,
      `install -m 0755 ${SCRATCH}/usr/bin/docker-registry ${REGISTRY_PATHS.binary}`,
      `rm -rf -- ${SCRATCH}`,
    ]);
    expect(
      host.exec
        .commandLines()
        .some((line) => line.startsWith("dpkg -i") || line.startsWith("dpkg --install")),
    ).toBe(false);
    expect(await host.fs.readText(REGISTRY_PATHS.binary)).toBe("(docker-registry from a)");
    await step.verify();
  });

  it("serves TLS with the depot certificate (key 0600) and checks it trusting only groundcrew's CA", async () => {
    const host = registryHost(secure, { tls: true });
    const before = hostTree(host.fs);
    const step = stepHarness(registryInstallStep, host, {
      binary: binary("tarball"),
      port: secure.port,
      tls: TLS,
    });
    expect(step.bound.title).toBe(`Run the depot registry on port ${secure.port}`);
    await step.apply();
    await step.verify();
    expect(await host.fs.readText(REGISTRY_PATHS.cert)).toBe(pems.cert);
    expect(host.fs.modeOf(REGISTRY_PATHS.cert)).toBe(0o644);
    expect(await host.fs.readText(REGISTRY_PATHS.key)).toBe(pems.key);
    expect(host.fs.modeOf(REGISTRY_PATHS.key)).toBe(0o600);
    expect(await host.fs.readText(REGISTRY_PATHS.config)).toContain(
      `  addr: :${secure.port}\n  tls:\n    certificate: ${REGISTRY_PATHS.cert}\n    key: ${REGISTRY_PATHS.key}\n`,
    );
    expect(await step.check()).toEqual({
      done: true,
      reason: `${REGISTRY_UNIT} serves on port ${secure.port}`,
    });
    expect(await localRegistryTarget(host.fs, secure.port, TLS.ca)).toEqual({
      url: `https://127.0.0.1:${secure.port}`,
      ca: pems.ca,
    });

    await step.undo();
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("leaves registry storage that was there before (data not ours) when undoing", async () => {
    const host = registryHost(plain, { storage: true });
    const before = hostTree(host.fs);
    const step = stepHarness(registryInstallStep, host, plainParams());
    await step.apply();
    expect((await step.ledger.read())?.trees).toEqual([REGISTRY_PATHS.binary]);
    expect((await step.undo()).changes).not.toContain(`removed ${REGISTRY_PATHS.storage}`);
    expect(host.exec.commandLines()).not.toContain(`rm -rf -- ${REGISTRY_PATHS.storage}`);
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("installs a new binary and restarts when the bundle's registry changed", async () => {
    const host = registryHost(plain);
    await stepHarness(registryInstallStep, host, plainParams("tarball", SHA_A)).apply();
    const step = stepHarness(registryInstallStep, host, plainParams("tarball", SHA_B));
    expect((await step.check()).reason).toBe(`${REGISTRY_PATHS.source} is missing or differs`);
    const calls = host.exec.calls.length;
    expect((await step.apply()).changes).toEqual([
      `installed ${REGISTRY_PATHS.binary} from registry/registry_3.0.0_linux_amd64.tar.gz`,
      `wrote ${REGISTRY_PATHS.source}`,
      `started ${REGISTRY_UNIT} on port ${plain.port}`,
    ]);
    expect(host.exec.commandLines().slice(calls)).toContain(`systemctl restart ${REGISTRY_UNIT}`);
    expect(await host.fs.readText(REGISTRY_PATHS.binary)).toBe("(registry from b)");
    expect(host.systemd.restarts.get(REGISTRY_UNIT)).toBe(1);
  });

  it("a tarball without the registry is HOST_COMMAND_FAILED, and the scratch directory is still removed", async () => {
    const host = registryHost(plain);
    host.exec.answer(`tar -xzf ${CAS}/${SHA_A} -C ${SCRATCH} registry`, {
      code: 2,
      stderr:
        "tar: registry: Not found in archive\ntar: Exiting with failure status due to previous errors\n",
    });
    const step = stepHarness(registryInstallStep, host, plainParams());
    await expect(step.apply()).rejects.toMatchObject({
      code: "HOST_COMMAND_FAILED",
      message: expect.stringContaining("tar: registry: Not found in archive") as unknown,
    });
    expect(host.exec.commandLines().at(-1)).toBe(`rm -rf -- ${SCRATCH}`);
    expect(await host.fs.stat(SCRATCH)).toBeUndefined();
  });

  it("verify: STEP_VERIFY_FAILED when the unit is not active, REGISTRY_UNREACHABLE when /v2/ does not answer", async () => {
    const host = registryHost(plain);
    const step = stepHarness(registryInstallStep, host, plainParams());
    await step.apply();
    plain.answering = false;
    await expect(step.verify()).rejects.toMatchObject({
      code: "REGISTRY_UNREACHABLE",
      message: `the registry on port ${plain.port} does not answer /v2/`,
    });
    expect((await step.check()).reason).toBe("the registry does not answer /v2/");
    host.systemd.active.clear();
    await expect(step.verify()).rejects.toMatchObject({
      code: "STEP_VERIFY_FAILED",
      message: `${REGISTRY_UNIT} is not active`,
    });
  });

  it("fails with HOST_IO_FAILED naming a TLS file the provisioner did not deliver", async () => {
    const host = registryHost(secure);
    const step = stepHarness(registryInstallStep, host, {
      binary: binary("tarball"),
      port: secure.port,
      tls: TLS,
    });
    await expect(step.check()).rejects.toMatchObject({
      code: "HOST_IO_FAILED",
      message: expect.stringMatching(new RegExp(`^cannot read ${TLS.cert}`)) as unknown,
    });
  });

  it("has nothing to undo where it never ran", async () => {
    const host = registryHost(plain);
    const before = hostTree(host.fs);
    const step = stepHarness(registryInstallStep, host, plainParams());
    expect(await step.undo()).toEqual({ changes: [] });
    expect(host.exec.commandLines()).toEqual(["systemctl daemon-reload"]);
    expect(hostTree(host.fs)).toEqual(before);
  });

  it("validates params", () => {
    const ok = plainParams();
    expect(() => registryInstallStep.bind({ ...ok, port: 0 })).toThrow(
      /parameters of registry.install are not valid at port/,
    );
    expect(() => registryInstallStep.bind({ ...ok, port: 65536 })).toThrow(/not valid at port/);
    expect(() => registryInstallStep.bind({ ...ok, binary: { ...ok.binary, from: "zip" } })).toThrow(
      /not valid at binary.from/,
    );
    expect(() => registryInstallStep.bind({ ...ok, binary: { ...ok.binary.artifact, from: "deb" } })).toThrow(
      /not valid at binary/,
    );
    expect(() => registryInstallStep.bind({ ...ok, tls: { ...TLS, key: "registry-key.pem" } })).toThrow(
      /not valid at tls.key: an absolute path/,
    );
    expect(() => registryInstallStep.bind({ ...ok, tls: { ...TLS, ca: "/etc/../ca pem" } })).toThrow(
      /not valid at tls.ca/,
    );
    expect(() => registryInstallStep.bind({ ...ok, casDir: "cas" })).toThrow(/not valid at casDir/);
  });
});

describe("registry target", () => {
  it("is plain HTTP on loopback without a CA, https trusting the CA file with one", async () => {
    const fs = fakePrepHost({ extra: { [TLS.ca]: "PEM" } }).fs;
    expect(await localRegistryTarget(fs, 5000, undefined)).toEqual({ url: "http://127.0.0.1:5000" });
    expect(await localRegistryTarget(fs, 5443, TLS.ca)).toEqual({ url: "https://127.0.0.1:5443", ca: "PEM" });
    await expect(localRegistryTarget(fs, 5443, "/missing/ca.pem")).rejects.toMatchObject({
      code: "HOST_IO_FAILED",
    });
  });

  it("waitFor resolves true as soon as the probe does, and treats a throwing probe as not yet", async () => {
    let calls = 0;
    expect(
      await waitFor(() => {
        calls += 1;
        return calls === 1 ? Promise.reject(new Error("refused")) : Promise.resolve(true);
      }, 5_000),
    ).toBe(true);
    expect(calls).toBe(2);
    expect(await waitFor(() => Promise.resolve(false), 0)).toBe(false);
  });
});
