import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ExecOptions, ExecResult } from "../../shared/host-io.js";
import { depotConfig, startDepotService } from "../../server/deploy/depot-service.js";
import { AGENT_TLS_FILES, installAgent } from "../../server/deploy/install-agent.js";
import {
  AGENT_CONFIG,
  AGENT_STATE_DIR,
  AGENT_UNIT_PATH,
  DEPOT_CONFIG,
  DEPOT_UNIT_PATH,
} from "../../server/deploy/layout.js";
import type { InventoryHost } from "../../server/inventory/types.js";
import type { HostConnection } from "../../server/orchestrate/host-session.js";
import { Pki } from "../../server/pki/pki.js";
import type { SshSession } from "../../server/ssh/session.js";
import { formsFound, privateKeyForms } from "../support/key-forms.js";

/**
 * The CA's private key never leaves the provisioner. Everything that would
 * reach a host when `up` installs an agent (and the depot service) is
 * recorded byte for byte: every argv, every stdin, every streamed and every
 * uploaded file. It is searched for the CA key in every form it could take:
 * the PEM, each of its lines, PKCS#8 and PKCS#1 DER, their base64 forms,
 * and the raw private exponent and primes.
 */

/** Every byte a host would receive, in order, and the files written as root. */
interface Recording {
  readonly chunks: Buffer[];
  readonly written: Map<string, string>;
  readonly uploads: string[];
}

function recordingConnection(recording: Recording): HostConnection {
  const run = async (
    argv: readonly [string, ...string[]],
    options: ExecOptions = {},
  ): Promise<ExecResult> => {
    recording.chunks.push(Buffer.from(argv.join("\0")));
    let input = options.input ?? "";
    if (options.inputStream !== undefined) {
      for await (const chunk of options.inputStream) input += Buffer.from(chunk).toString("latin1");
    }
    recording.chunks.push(Buffer.from(input, "latin1"));
    const target = argv.at(-1) ?? "";
    if (argv[0] === "install" && argv.includes("/dev/stdin")) {
      recording.written.set(target, input);
      files.set(target, Buffer.from(input, "latin1"));
    }
    if (argv[0] === "mv") {
      const from = argv.at(-2) ?? "";
      files.set(target, files.get(from) ?? Buffer.alloc(0));
      files.delete(from);
    }
    if (argv[0] === "sha256sum") {
      const content = files.get(target);
      return content === undefined
        ? { code: 1, stdout: "", stderr: "no such file" }
        : {
            code: 0,
            stdout: `${createHash("sha256").update(content).digest("hex")}  ${target}\n`,
            stderr: "",
          };
    }
    return { code: 0, stdout: "", stderr: "" };
  };
  /** The host's files as far as these commands made them: nothing is there at first. */
  const files = new Map<string, Buffer>();
  const session = {
    target: { name: "node1" },
    run,
    homeDirectory: () => Promise.resolve("/home/ops"),
    upload: async (local: string, remote: string) => {
      const content = await readFile(local);
      recording.uploads.push(remote);
      recording.chunks.push(content);
      files.set(remote, content);
    },
  };
  const host = { name: "node1" } as InventoryHost;
  return { host, session: session as unknown as SshSession, root: { run } };
}

describe("the CA key never leaves the provisioner", () => {
  let stateDir: string;

  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), "gc-ca-key-"));
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it("is a 0600 file in a 0700 directory, even under umask 0", async () => {
    const previous = process.umask(0);
    try {
      await (await Pki.open(path.join(stateDir, "state"))).ensureCa();
    } finally {
      process.umask(previous);
    }
    expect((await stat(path.join(stateDir, "state"))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(stateDir, "state", "pki"))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(stateDir, "state", "pki", "ca-key.pem"))).mode & 0o777).toBe(0o600);
  });

  it("is in nothing the Pki hands out: CA, host, server and registry certificates, the list", async () => {
    const pki = await Pki.open(stateDir);
    const handedOut = JSON.stringify([
      await pki.ensureCa(),
      await pki.issueHostCert("node1"),
      await pki.issueServerCert(["10.0.0.1"]),
      await pki.issueRegistryCert(["10.0.0.2", "localhost"]),
      await pki.certificates(),
    ]);
    const forms = privateKeyForms(await readFile(path.join(stateDir, "pki", "ca-key.pem"), "utf8"));
    expect(formsFound(Buffer.from(handedOut), forms)).toEqual([]);
    // The search can find a key: the host's own key is in what was handed out (JSON-escaped lines).
    expect(handedOut).toMatch(/BEGIN RSA PRIVATE KEY/);
  });

  it("is in none of the bytes installing the agent and the depot service sends a host", async () => {
    const pki = await Pki.open(stateDir);
    const identity = await pki.issueHostCert("node1");
    const agentFile = path.join(stateDir, "agent");
    await writeFile(agentFile, "a stand-in for the agent executable\n");
    const agent = {
      path: agentFile,
      sha256: createHash("sha256")
        .update(await readFile(agentFile))
        .digest("hex"),
    };
    const recording: Recording = { chunks: [], written: new Map(), uploads: [] };
    const connection = recordingConnection(recording);

    await installAgent(connection, agent, identity, {
      host: "node1",
      runId: "r-1",
      servers: ["wss://10.0.0.1:7443/agent"],
      tls: AGENT_TLS_FILES,
      stateDir: AGENT_STATE_DIR,
    });
    await startDepotService(connection.root, "node1", depotConfig(["node1", "node2"]), true);

    // Exactly these files, the CA's certificate among them, and the agent.
    expect([...recording.written.keys()].sort()).toEqual(
      [
        AGENT_TLS_FILES.ca,
        AGENT_TLS_FILES.cert,
        AGENT_TLS_FILES.key,
        AGENT_CONFIG,
        AGENT_UNIT_PATH,
        DEPOT_CONFIG,
        DEPOT_UNIT_PATH,
      ].sort(),
    );
    expect(recording.written.get(AGENT_TLS_FILES.ca)).toBe(identity.caPem);
    expect(recording.written.get(AGENT_TLS_FILES.key)).toBe(identity.keyPem);
    expect(recording.uploads).toHaveLength(1);

    const sent = Buffer.concat(recording.chunks);
    const caKey = await readFile(path.join(stateDir, "pki", "ca-key.pem"), "utf8");
    expect(formsFound(sent, privateKeyForms(caKey))).toEqual([]);
    // The same search finds the host's own key, which is meant to go: it can fail.
    expect(formsFound(sent, privateKeyForms(identity.keyPem)).length).toBeGreaterThan(0);
  });
});
