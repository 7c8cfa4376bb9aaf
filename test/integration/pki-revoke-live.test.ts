import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentClient } from "../../agent/transport/agent-client.js";
import type { GroundcrewError } from "../../shared/errors.js";
import { PROTOCOL_VERSION } from "../../shared/protocol.js";
import { Journal } from "../../server/journal/index.js";
import { cutOnRevocation, type RevocationCut } from "../../server/orchestrate/revocation-cut.js";
import { RunTracker } from "../../server/orchestrate/run-tracker.js";
import type { HostCertificate } from "../../server/pki/pki.js";
import { AgentServer } from "../../server/ws/agent-server.js";
import { RUN, dial, envelope, planFor, waitFor } from "../fixtures/tls/harness.js";
import { makeTlsWorld, type TlsWorld } from "../fixtures/tls/tls-world.js";

const CLI = path.resolve("dist", "server", "cli", "main.js");
const HOSTS = ["node-a", "node-b"] as const;

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** One agent: a real AgentClient sending a numbered event every 20 ms while welcomed. */
interface Agent {
  readonly client: AgentClient;
  readonly cert: HostCertificate;
  readonly rejects: string[];
  /** When the first reject arrived (ms since the epoch). */
  rejectedAt: number | undefined;
  sent: number;
  acked: number;
  stop(): Promise<void>;
}

/**
 * `groundcrew pki revoke HOST`, run as its own process against the state
 * directory of a running provisioner: the provisioner's AgentServer (mutual
 * TLS on loopback, a real SQLite journal as its sink), the run's tracker and
 * the revocation watcher exactly as `up` wires them (`cutOnRevocation`), and
 * real AgentClients. The revoked host's session is cut (REVOKED), nothing
 * more of it is journaled, the journal and the terminal say why, a redial
 * is refused, and the other host goes on.
 */
describe("groundcrew pki revoke against a running provisioner", { timeout: 60_000 }, () => {
  let world: TlsWorld;
  let stateDir: string;
  let work: string;
  let journal: Journal;
  let server: AgentServer;
  let cut: RevocationCut;
  let tracker: RunTracker;
  const agents = new Map<string, Agent>();
  const phases: string[] = [];
  const notes: string[] = [];
  const errors: GroundcrewError[] = [];

  const groundcrew = (...args: string[]): Promise<CliResult> =>
    promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { ...process.env, GROUNDCREW_STATE_DIR: stateDir },
      timeout: 30_000,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: unknown) => error as CliResult,
    );

  const journaledSeqs = (host: string): number[] =>
    journal.events({ runId: RUN, host }).map((event) => event.seq);

  function startAgent(host: string, cert: HostCertificate): Agent {
    const agent: Agent = {
      cert,
      rejects: [],
      rejectedAt: undefined,
      sent: 0,
      acked: 0,
      client: new AgentClient({
        url: `wss://127.0.0.1:${server.address().port}/agent`,
        tls: { cert: cert.certPem, key: cert.keyPem, ca: cert.caPem },
        identity: { host, runId: RUN, agentVersion: "test" },
        onWelcome: (welcome) => {
          agent.sent = welcome.ackedSeq;
        },
        onAck: (seq) => {
          agent.acked = Math.max(agent.acked, seq);
        },
        onReject: (code, message) => {
          agent.rejectedAt ??= Date.now();
          agent.rejects.push(`${code}: ${message}`);
        },
        onDisconnect: () => undefined,
      }),
      stop: async () => {
        clearInterval(ticker);
        await agent.client.close();
      },
    };
    const ticker = setInterval(() => {
      if (agent.client.send(envelope(host, agent.sent + 1))) agent.sent += 1;
    }, 20);
    agent.client.start();
    agents.set(host, agent);
    return agent;
  }

  beforeAll(async () => {
    expect(existsSync(CLI), `${CLI}: run \`npm run build\` first`).toBe(true);
    world = await makeTlsWorld();
    stateDir = path.dirname(world.pki.dir);
    work = await mkdtemp(path.join(tmpdir(), "gc-revoke-live-"));
    journal = Journal.open(path.join(work, "journal.db"));
    journal.startRun({ id: RUN, action: "apply", inventory: "fleet.yaml", hosts: [...HOSTS] });
    tracker = new RunTracker([...HOSTS], 60_000, () => undefined);
    server = await AgentServer.listen({
      host: "127.0.0.1",
      port: 0,
      tls: world.server,
      hosts: new Set(HOSTS),
      isRevoked: (serial) => world.pki.isRevoked(serial),
      sink: journal,
      onHello: (host, hello) => {
        if (hello.protocol !== PROTOCOL_VERSION || hello.runId !== RUN) {
          return { reject: "UNKNOWN_RUN", message: "not this run" };
        }
        tracker.connected(host);
        return { plan: planFor(host), ackedSeq: journal.lastSeq(RUN, host) };
      },
      onHostDisconnected: (host) => {
        tracker.disconnected(host);
      },
      onAgentError: (error) => errors.push(error),
    });
    cut = await cutOnRevocation({
      pki: world.pki,
      server,
      journal,
      runId: RUN,
      hosts: [...HOSTS],
      tracker,
      reporter: {
        phase: (host, text, state) => phases.push(`${host} [${state ?? "running"}] ${text}`),
        note: (text) => notes.push(text),
      },
    });
    for (const host of HOSTS) startAgent(host, await world.hostCert(host));
    await waitFor(
      () => HOSTS.every((host) => (agents.get(host)?.acked ?? 0) >= 5),
      10_000,
      "both agents to have events journaled",
    );
  });

  afterAll(async () => {
    for (const agent of agents.values()) await agent.stop();
    await cut.close();
    await server.close();
    journal.close();
    await world.dispose();
    await rm(work, { recursive: true, force: true });
  });

  it("refuses an unknown host by name and changes nothing", async () => {
    const revokedFile = path.join(stateDir, "pki", "revoked.json");
    expect(existsSync(revokedFile)).toBe(false);
    const result = await groundcrew("pki", "revoke", "node-z");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^groundcrew: no certificate was issued to node-z from \S+ \(hosts: node-a, node-b\) \[PKI_HOST_UNKNOWN\]$/m,
    );
    expect(existsSync(revokedFile)).toBe(false);
    expect(server.liveHosts().sort()).toEqual([...HOSTS]);
    expect(phases).toEqual([]);
  });

  it("cuts the revoked host's live session within seconds; nothing more is journaled; a redial is refused", async () => {
    const nodeA = agents.get("node-a")!;
    const nodeB = agents.get("node-b")!;
    const started = Date.now();
    const result = await groundcrew("pki", "revoke", "node-a");
    const exited = Date.now();
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`node-a: revoked 1 certificate(s): ${nodeA.cert.serial}`);

    await waitFor(() => nodeA.rejects.length > 0, 10_000, "node-a to be refused");
    expect(nodeA.rejects).toEqual(["REVOKED: this agent's certificate was revoked"]);
    expect(nodeA.client.state).toBe("stopped");
    const written = (await stat(path.join(stateDir, "pki", "revoked.json"))).mtimeMs;
    console.log(
      `pki revoke: the CLI ran ${exited - started} ms; the agent was refused ` +
        `${Math.round((nodeA.rejectedAt ?? 0) - written)} ms after revoked.json was written`,
    );

    // Nothing of node-a after the cut: the journal holds exactly the acked prefix, 1..n, and stays so.
    const journaled = journaledSeqs("node-a");
    expect(journaled).toEqual(Array.from({ length: journaled.length }, (_, index) => index + 1));
    expect(journaled.length).toBe(nodeA.acked);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(journaledSeqs("node-a")).toEqual(journaled);

    // The journal, the terminal and the run know why.
    const status = journal.hostStatus(RUN).find((host) => host.host === "node-a");
    expect(status?.state).toBe("lost");
    expect(status?.lost?.reason).toMatch(/^certificate revoked \(1 serial\(s\)\); live session cut$/);
    expect(phases).toEqual([
      "node-a [lost] certificate revoked (1 serial(s)); live session cut: out of this run",
    ]);
    expect(tracker.outcome("node-a")).toBe("lost");

    // The same certificate cannot come back.
    expect(await dial(`wss://127.0.0.1:${server.address().port}/agent`, nodeA.cert, world.caPem)).toEqual({
      kind: "http",
      status: 403,
    });
    expect(errors.some((error) => error.code === "AGENT_TLS_REFUSED" && /revoked/.test(error.message))).toBe(
      true,
    );

    // node-b goes on: connected, and its events are still journaled.
    const before = nodeB.acked;
    await waitFor(() => nodeB.acked > before + 5, 5000, "node-b to carry on");
    expect(server.liveHosts()).toEqual(["node-b"]);
    expect(tracker.outcome("node-b")).toBeUndefined();
    expect(notes).toEqual([]);
  });

  it("pki list shows the revoked and the valid certificate", async () => {
    const result = await groundcrew("pki", "list");
    expect(result.code).toBe(0);
    const nodeA = agents.get("node-a")!.cert;
    const nodeB = agents.get("node-b")!.cert;
    expect(result.stdout).toMatch(
      new RegExp(`^node-a +${nodeA.serial} +${nodeA.notAfter.toISOString()} +revoked \\S+$`, "m"),
    );
    expect(result.stdout).toMatch(
      new RegExp(`^node-b +${nodeB.serial} +${nodeB.notAfter.toISOString()} +valid$`, "m"),
    );
    const again = await groundcrew("pki", "revoke", "node-a");
    expect(again.stdout).toBe("node-a: no current certificate left to revoke (already revoked or expired)\n");
  });
});
