import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AGENT_TLS_FILES, installAgent, type HostTlsMaterial } from "../../server/deploy/install-agent.js";
import {
  AGENT_BINARY,
  AGENT_STATE_DIR,
  AGENT_UNIT_NAME,
  AGENT_UNIT_PATH,
} from "../../server/deploy/layout.js";
import { installRemoteFiles, remoteSha256s } from "../../server/deploy/remote-file.js";
import type { InventoryHost } from "../../server/inventory/types.js";
import type { HostConnection } from "../../server/orchestrate/host-session.js";
import type { AgentBinary } from "../../server/ssh/push-agent.js";
import type { SshSession } from "../../server/ssh/session.js";
import type { ExecOptions, ExecResult } from "../../shared/host-io.js";

/**
 * installAgent does its work in as few commands as it can (each one is an
 * SSH round trip and a sudo on the host; each systemd reload is slow on a
 * busy host) without skipping anything: what changed is written, the unit
 * is enabled and systemd has loaded the unit file the agent starts from.
 */

const sha = (content: string | Buffer): string => createHash("sha256").update(content).digest("hex");
const ok = (stdout = ""): ExecResult => ({ code: 0, stdout, stderr: "" });

/** A host as far as installAgent's commands see it: files, the unit's enablement, what systemd loaded. */
class FakeHost {
  readonly files = new Map<string, Buffer>();
  /** "enabled", "disabled" or "enabled-runtime" (what `systemctl is-enabled` prints). */
  enablement = "disabled";
  /** The unit file content systemd loaded at its last reload. */
  loadedUnit: string | undefined;
  /** The loaded unit content at each restart of the agent unit. */
  readonly restarts: (string | undefined)[] = [];
  readonly commands: string[] = [];

  readonly run = (argv: readonly [string, ...string[]], options: ExecOptions = {}): Promise<ExecResult> => {
    this.commands.push(argv.join(" "));
    return Promise.resolve(this.answer(argv, options));
  };

  private answer(argv: readonly string[], options: ExecOptions): ExecResult {
    const [program, ...args] = argv;
    if (program === "sha256sum") {
      const files = args.filter((arg) => arg !== "--");
      const lines = files.flatMap((file) => {
        const content = this.files.get(file);
        return content === undefined ? [] : [`${sha(content)}  ${file}\n`];
      });
      return { code: lines.length === files.length ? 0 : 1, stdout: lines.join(""), stderr: "" };
    }
    if (program === "mkdir") return ok();
    if (program === "install" && args.includes("/dev/stdin")) {
      this.files.set(args.at(-1) ?? "", Buffer.from(options.input ?? ""));
      return ok();
    }
    if (program === "install" && args[0] === "-D") {
      const from = this.files.get(args.at(-2) ?? "");
      if (from === undefined) return { code: 1, stdout: "", stderr: "no such file" };
      this.files.set(args.at(-1) ?? "", from);
      return ok();
    }
    if (program === "mv") {
      this.files.set(args.at(-1) ?? "", this.files.get(args.at(-2) ?? "") ?? Buffer.alloc(0));
      this.files.delete(args.at(-2) ?? "");
      return ok();
    }
    if (program === "systemctl") return this.systemctl(args.filter((arg) => !arg.startsWith("--")));
    return { code: 127, stdout: "", stderr: "not found" };
  }

  private systemctl([verb, unit]: readonly string[]): ExecResult {
    if (verb === "daemon-reload") {
      this.loadedUnit = this.files.get(AGENT_UNIT_PATH)?.toString();
      return ok();
    }
    if (unit !== AGENT_UNIT_NAME) return { code: 1, stdout: "", stderr: "unknown unit" };
    const present = this.files.has(AGENT_UNIT_PATH);
    if (verb === "is-enabled") {
      if (!present) return { code: 1, stdout: "", stderr: "No such file or directory" };
      return { code: this.enablement === "disabled" ? 1 : 0, stdout: `${this.enablement}\n`, stderr: "" };
    }
    if (verb === "enable") {
      if (!present) return { code: 1, stdout: "", stderr: "Unit file does not exist" };
      this.enablement = "enabled";
      return ok();
    }
    if (verb === "restart") {
      this.restarts.push(this.loadedUnit);
      return ok();
    }
    return { code: 1, stdout: "", stderr: `unexpected systemctl ${verb ?? ""}` };
  }

  connection(): HostConnection {
    const session = {
      target: { name: "node1" },
      run: this.run,
      homeDirectory: () => Promise.resolve("/home/ops"),
      upload: async (local: string, remote: string) => {
        this.files.set(remote, await readFile(local));
      },
    };
    return {
      host: { name: "node1" } as InventoryHost,
      session: session as unknown as SshSession,
      root: this,
    };
  }
}

const config = {
  host: "node1",
  runId: "r-1",
  servers: ["wss://10.0.0.1:7443/agent"],
  tls: AGENT_TLS_FILES,
  stateDir: AGENT_STATE_DIR,
};
const identity: HostTlsMaterial = { caPem: "ca\n", certPem: "cert 1\n", keyPem: "key 1\n" };

describe("installAgent", () => {
  let dir: string;
  let agent: AgentBinary;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "gc-install-agent-"));
    const file = path.join(dir, "agent");
    await writeFile(file, "a stand-in for the agent executable\n");
    agent = { path: file, sha256: sha(await readFile(file)) };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("on a fresh host installs everything, enables the unit and reloads systemd once, before the start", async () => {
    const host = new FakeHost();
    const installed = await installAgent(host.connection(), agent, identity, config);
    expect(installed).toMatchObject({ binaryChanged: true, tlsChanged: true });
    expect(host.files.get(AGENT_BINARY)?.toString()).toBe("a stand-in for the agent executable\n");
    expect(host.files.get(AGENT_TLS_FILES.key)?.toString()).toBe(identity.keyPem);
    expect(host.enablement).toBe("enabled");
    expect(host.commands.filter((line) => line === "systemctl daemon-reload")).toHaveLength(1);
    expect(host.commands).toContain(`systemctl enable --quiet --no-reload ${AGENT_UNIT_NAME}`);
    // The agent started from the unit file as written, which systemd had loaded.
    expect(host.restarts).toEqual([host.files.get(AGENT_UNIT_PATH)?.toString()]);
  });

  it("when nothing changed runs three commands: the hashes, is-enabled, restart (no reload)", async () => {
    const host = new FakeHost();
    await installAgent(host.connection(), agent, identity, config);
    host.commands.length = 0;
    const again = await installAgent(host.connection(), agent, identity, config);
    expect(again).toEqual({ binaryChanged: false, tlsChanged: false, bytesSent: 0 });
    expect(host.commands).toEqual([
      expect.stringMatching(/^sha256sum -- /),
      `systemctl is-enabled ${AGENT_UNIT_NAME}`,
      `systemctl restart ${AGENT_UNIT_NAME}`,
    ]);
    expect(host.commands[0]?.split(" ")).toHaveLength(2 + 6);
    expect(host.restarts).toHaveLength(2);
  });

  it("writes only what differs: a new certificate is rewritten, the rest and systemd are left alone", async () => {
    const host = new FakeHost();
    await installAgent(host.connection(), agent, identity, config);
    host.commands.length = 0;
    const renewed = await installAgent(
      host.connection(),
      agent,
      { ...identity, certPem: "cert 2\n", keyPem: "key 2\n" },
      config,
    );
    expect(renewed.tlsChanged).toBe(true);
    expect(host.files.get(AGENT_TLS_FILES.cert)?.toString()).toBe("cert 2\n");
    expect(host.commands.filter((line) => line.startsWith("install "))).toEqual([
      `install -m 0600 /dev/stdin ${AGENT_TLS_FILES.cert}`,
      `install -m 0600 /dev/stdin ${AGENT_TLS_FILES.key}`,
    ]);
    expect(host.commands).not.toContain("systemctl daemon-reload");
  });

  it("enables a unit that was disabled, or enabled only until the next boot, and reloads systemd", async () => {
    for (const state of ["disabled", "enabled-runtime"]) {
      const host = new FakeHost();
      await installAgent(host.connection(), agent, identity, config);
      host.enablement = state;
      host.commands.length = 0;
      await installAgent(host.connection(), agent, identity, config);
      expect(host.enablement, state).toBe("enabled");
      expect(host.commands, state).toContain("systemctl daemon-reload");
    }
  });

  it("rewrites a unit file changed on the host, enables it again and starts from the reloaded file", async () => {
    const host = new FakeHost();
    await installAgent(host.connection(), agent, identity, config);
    const unit = host.files.get(AGENT_UNIT_PATH)?.toString();
    host.files.set(AGENT_UNIT_PATH, Buffer.from("[Service]\nExecStart=/bin/false\n"));
    host.loadedUnit = "[Service]\nExecStart=/bin/false\n";
    host.commands.length = 0;
    await installAgent(host.connection(), agent, identity, config);
    expect(host.files.get(AGENT_UNIT_PATH)?.toString()).toBe(unit);
    expect(host.commands).toContain(`systemctl enable --quiet --no-reload ${AGENT_UNIT_NAME}`);
    expect(host.restarts.at(-1)).toBe(unit);
  });

  it("replaces an agent binary of another build from the cache", async () => {
    const host = new FakeHost();
    await installAgent(host.connection(), agent, identity, config);
    host.files.set(AGENT_BINARY, Buffer.from("an older build\n"));
    const replaced = await installAgent(host.connection(), agent, identity, config);
    expect(replaced).toMatchObject({ binaryChanged: true, bytesSent: 0 });
    expect(host.files.get(AGENT_BINARY)?.toString()).toBe("a stand-in for the agent executable\n");
  });
});

describe("remoteSha256s and installRemoteFiles", () => {
  it("reads several hashes in one command; missing files and names sha256sum escaped are absent", async () => {
    const host = new FakeHost();
    host.files.set("/a", Buffer.from("A"));
    host.files.set("/c", Buffer.from("C"));
    const hashes = await remoteSha256s(host, ["/a", "/b", "/c"]);
    expect(host.commands).toEqual(["sha256sum -- /a /b /c"]);
    expect([...hashes]).toEqual([
      ["/a", sha("A")],
      ["/c", sha("C")],
    ]);
    const escaped = await remoteSha256s(
      { run: () => Promise.resolve(ok(`\\${sha("x")}  /odd\\nname\n${sha("y")}  /other\n`)) },
      ["/odd\nname", "/y"],
    );
    expect(escaped.size).toBe(0);
  });

  it("writes only the files that differ, after one mkdir for their directories", async () => {
    const host = new FakeHost();
    host.files.set("/etc/x/same", Buffer.from("same\n"));
    const written = await installRemoteFiles(host, "node1", [
      { path: "/etc/x/same", content: "same\n", mode: 0o644 },
      { path: "/etc/x/new", content: "new\n", mode: 0o600 },
      { path: "/etc/y/new", content: "other\n", mode: 0o644 },
    ]);
    expect([...written]).toEqual(["/etc/x/new", "/etc/y/new"]);
    expect(host.commands).toEqual([
      "sha256sum -- /etc/x/same /etc/x/new /etc/y/new",
      "mkdir -p -m 0700 -- /etc/x /etc/y",
      "install -m 0600 /dev/stdin /etc/x/new",
      "install -m 0644 /dev/stdin /etc/y/new",
    ]);
    expect(host.files.get("/etc/y/new")?.toString()).toBe("other\n");
  });
});
