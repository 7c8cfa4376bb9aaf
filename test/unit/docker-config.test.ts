import { describe, expect, it } from "vitest";
import {
  DAEMON_JSON,
  dockerConfigFiles,
  dockerRegistrySchema,
  verifyWithImage,
} from "../../agent/steps/docker-config.js";
import { fakeExec } from "../fakes/fake-exec.js";
import { fakeFs } from "../fakes/fake-fs.js";

const CA = "/var/lib/groundcrew/agent/tls/ca.pem";
const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

describe("dockerConfigFiles (D2)", () => {
  it("wants no file without a registry", async () => {
    expect(await dockerConfigFiles(fakeFs({ [DAEMON_JSON]: "{}" }), undefined)).toEqual([]);
  });

  it("for a plain-HTTP registry: the depot as docker.io's mirror and among the insecure registries", async () => {
    const files = await dockerConfigFiles(fakeFs({}), { endpoint: "10.0.0.5:5000" });
    expect(files).toEqual([
      {
        path: DAEMON_JSON,
        mode: 0o644,
        content:
          '{\n  "registry-mirrors": [\n    "http://10.0.0.5:5000"\n  ],\n' +
          '  "insecure-registries": [\n    "10.0.0.5:5000"\n  ]\n}\n',
      },
    ]);
  });

  it("for a TLS registry: an https mirror, no insecure entry, and the CA under certs.d/<host:port>", async () => {
    const fs = fakeFs({ [CA]: CA_PEM });
    const files = await dockerConfigFiles(fs, { endpoint: "[fd00::5]:5000", caFile: CA });
    expect(files.map((file) => [file.path, file.mode])).toEqual([
      [DAEMON_JSON, 0o644],
      ["/etc/docker/certs.d/[fd00::5]:5000/ca.crt", 0o644],
    ]);
    expect(JSON.parse(files[0]!.content)).toEqual({ "registry-mirrors": ["https://[fd00::5]:5000"] });
    expect(files[1]!.content).toBe(CA_PEM);
  });

  it("keeps the operator's keys and list entries, adds ours once, and is stable once written", async () => {
    const operator = {
      "log-driver": "journald",
      "registry-mirrors": ["https://mirror.example.com"],
      "insecure-registries": ["10.0.0.5:5000", 42],
    };
    const fs = fakeFs({ [DAEMON_JSON]: JSON.stringify(operator) });
    const [daemon] = await dockerConfigFiles(fs, { endpoint: "10.0.0.5:5000" });
    expect(JSON.parse(daemon!.content)).toEqual({
      "log-driver": "journald",
      "registry-mirrors": ["https://mirror.example.com", "http://10.0.0.5:5000"],
      // Our endpoint was there already; a non-string entry is dropped.
      "insecure-registries": ["10.0.0.5:5000"],
    });
    await fs.writeFileAtomic(DAEMON_JSON, daemon!.content, daemon!.mode);
    expect(await dockerConfigFiles(fs, { endpoint: "10.0.0.5:5000" })).toEqual([daemon]);
  });

  it("takes an empty daemon.json as no settings", async () => {
    const [daemon] = await dockerConfigFiles(fakeFs({ [DAEMON_JSON]: " \n" }), { endpoint: "depot:5000" });
    expect(JSON.parse(daemon!.content)).toEqual({
      "registry-mirrors": ["http://depot:5000"],
      "insecure-registries": ["depot:5000"],
    });
  });

  it("refuses a daemon.json that is not a JSON object (HOST_IO_FAILED naming it)", async () => {
    for (const text of ["{ not json", '["a"]', "null"]) {
      await expect(
        dockerConfigFiles(fakeFs({ [DAEMON_JSON]: text }), { endpoint: "10.0.0.5:5000" }),
      ).rejects.toMatchObject({
        code: "HOST_IO_FAILED",
        message: `${DAEMON_JSON} is not a JSON object: fix or remove it`,
      });
    }
  });

  it("fails with HOST_IO_FAILED naming a missing CA file", async () => {
    await expect(
      dockerConfigFiles(fakeFs({}), { endpoint: "10.0.0.5:5000", caFile: CA }),
    ).rejects.toMatchObject({
      code: "HOST_IO_FAILED",
      message: expect.stringMatching(new RegExp(`^cannot read ${CA}: ENOENT`)) as unknown,
    });
  });

  it("validates the registry: host:port and an absolute CA path", () => {
    expect(dockerRegistrySchema.safeParse({ endpoint: "10.0.0.5:5000" }).success).toBe(true);
    expect(dockerRegistrySchema.safeParse({ endpoint: "10.0.0.5" }).success).toBe(false);
    expect(dockerRegistrySchema.safeParse({ endpoint: "http://10.0.0.5:5000" }).success).toBe(false);
    expect(dockerRegistrySchema.safeParse({ endpoint: "10.0.0.5:5000", caFile: "ca.pem" }).success).toBe(
      false,
    );
    expect(dockerRegistrySchema.safeParse({ endpoint: "10.0.0.5:5000", tls: true }).success).toBe(false);
  });
});

describe("verifyWithImage", () => {
  const image = "10.0.0.5:5000/library/busybox:1.36";
  const pull = `docker pull --quiet ${image}`;
  const inspect = `docker image inspect --format {{json .Config.Entrypoint}} ${image}`;
  const run = `docker run --rm --network none ${image} true`;

  it("pulls through the depot and runs `true` in an image without an entrypoint, offline", async () => {
    const exec = fakeExec({ [pull]: { stdout: `${image}\n` }, [inspect]: { stdout: "null\n" }, [run]: {} });
    expect(await verifyWithImage(exec, image)).toBe(
      `pulled ${image} through the depot registry and ran a container of it`,
    );
    expect(exec.commandLines()).toEqual([pull, inspect, run]);
    expect(exec.calls[0]?.options).toEqual({ timeoutMs: 180_000 });
    expect(exec.calls[2]?.options).toEqual({ timeoutMs: 60_000 });
  });

  it("only pulls an image with an entrypoint of its own", async () => {
    const exec = fakeExec({ [pull]: {}, [inspect]: { stdout: '["/docker-entrypoint.sh"]\n' } });
    expect(await verifyWithImage(exec, image)).toBe(`pulled ${image} through the depot registry`);
    expect(exec.commandLines()).toEqual([pull, inspect]);
  });

  it("fails with STEP_VERIFY_FAILED and Docker's words when the pull or the run fails", async () => {
    const refused = fakeExec({
      [pull]: { code: 1, stderr: "Error response from daemon: manifest unknown\n" },
    });
    await expect(verifyWithImage(refused, image)).rejects.toMatchObject({
      code: "STEP_VERIFY_FAILED",
      message: `Docker cannot pull ${image} through the depot: \`${pull}\` exited 1: Error response from daemon: manifest unknown`,
    });
    expect(refused.commandLines()).toEqual([pull]);

    const broken = fakeExec({
      [pull]: {},
      [inspect]: { stdout: "[]\n" },
      [run]: { code: 125, stderr: "oci runtime error\n" },
    });
    await expect(verifyWithImage(broken, image)).rejects.toMatchObject({
      code: "STEP_VERIFY_FAILED",
      message: `a container of ${image} did not run: \`${run}\` exited 125: oci runtime error`,
    });
  });
});
