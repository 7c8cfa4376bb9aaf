import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { recordingReporter } from "../../agent/runner/reporter.js";
import { mustRun } from "../../agent/runner/host-calls.js";
import { errorInfo, stepEventQueue } from "../../agent/runner/step-events.js";
import { errorText } from "../../server/cli/error-text.js";
import { createProgram } from "../../server/cli/program.js";
import { ProgressView } from "../../server/cli/progress/progress-view.js";
import { redactingIo } from "../../server/cli/redacting-io.js";
import { resolveToken } from "../../server/cluster/k3s-token.js";
import { K3S_TOKEN_FILE } from "../../server/deploy/layout.js";
import { installRemoteFile } from "../../server/deploy/remote-file.js";
import { parseInventory } from "../../server/inventory/load.js";
import { Journal } from "../../server/journal/index.js";
import { redactError, redactingSink, withRedaction } from "../../server/orchestrate/redaction.js";
import { resolveSudoPasswords } from "../../server/orchestrate/sudo-passwords.js";
import { journalPath, type UpReporter } from "../../server/orchestrate/up.js";
import { Pki } from "../../server/pki/pki.js";
import { AgentConnection } from "../../server/ws/agent-connection.js";
import { GroupCommit } from "../../server/ws/group-commit.js";
import type { JournalSink } from "../../server/ws/journal-sink.js";
import type { AgentEvent, EventEnvelope } from "../../shared/protocol.js";
import { Secret } from "../../shared/secret.js";
import { withSudoPassword } from "../../shared/with-sudo.js";
import { FakeWebSocket } from "../fakes/fake-websocket.js";
import { fakeExec } from "../fakes/fake-exec.js";

/**
 * Promise 7 and fault 11: a secret (the k3s token, a sudo password, the
 * registry's private key) that shows up in what a host reports, or in an
 * error on the provisioner, reaches neither the journal (database, WAL,
 * shared memory) nor the terminal (live view, notes, the final error,
 * `logs`). Real components throughout: the agent's own event and error code
 * makes the events, AgentConnection takes them in, the run's outputs are
 * wired as `up` wires them (withRedaction, redactingSink), the journal is a
 * real SQLite file in WAL mode, the terminal is the real ProgressView and
 * CLI. Every file is searched byte for byte for each secret, its JSON and
 * base64 forms, and each line of the key. There is no `--verbose` and no
 * log file: the journal and the terminal are all groundcrew writes.
 */

const RUN = "r-secrets";
const HOST = "cp1";
const TOKEN = "K10a4f7c2e9b1d8::server:5e3b9a1c7d2f4e6a";
const SUDO_PASSWORD = "Sudo-Pa55-7c1e9f2d";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "gc-secrets-"));
  vi.stubEnv("GROUNDCREW_STATE_DIR", dir);
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

/** Every form a secret could be written in: itself, JSON-escaped, base64 (std, url), and a key's lines. */
function forms(secret: string): string[] {
  const lines = secret.split("\n").filter((line) => line.length >= 6 && !line.startsWith("-----"));
  return [
    secret,
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret).toString("base64"),
    Buffer.from(secret).toString("base64url"),
    ...lines,
  ];
}

/** The secret forms found in `bytes`, by name: empty when none is. */
function leaks(bytes: Buffer | string, secrets: Readonly<Record<string, string>>): string[] {
  const haystack = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  return Object.entries(secrets).flatMap(([name, secret]) =>
    forms(secret)
      .filter((form) => haystack.includes(Buffer.from(form)))
      .map((form) => `${name} (${form === secret ? "as is" : form.slice(0, 12)}…)`),
  );
}

/** The inventory as a user writes it: the token in the file (opted in), the sudo password from the environment. */
function inventory() {
  const text = [
    "hosts:",
    `  - name: ${HOST}`,
    "    address: 10.0.0.1",
    "    role: server",
    "    user: ops",
    "    sudo: {passwordEnv: CP1_SUDO}",
    "cluster:",
    `  token: {value: "${TOKEN}", allowPlaintextToken: true}`,
  ].join("\n");
  return parseInventory(text, path.join(dir, "fleet.yaml"), {
    fileExists: () => true,
    homeDir: "/home/op",
    env: {},
  });
}

/** What the terminal received, by channel, as the CLI's reporter writes it. */
interface Terminal {
  lines: string;
  json: string;
  notes: string;
  readonly reporter: UpReporter;
}

function terminal(): Terminal {
  const screen: Terminal = {
    lines: "",
    json: "",
    notes: "",
    reporter: {
      phase: (host, text, state) => {
        lines.phase(host, text, state);
        json.phase(host, text, state);
      },
      event: (envelope) => {
        lines.event(envelope);
        json.event(envelope);
      },
      transfer: () => undefined,
      note: (text) => {
        screen.notes += `${text}\n`;
      },
    },
  };
  const lines = new ProgressView([HOST], { write: (text) => (screen.lines += text) }, "lines", () => 0);
  const json = new ProgressView([HOST], { write: (text) => (screen.json += text) }, "json", () => 0);
  return screen;
}

/** What the agent reports on a bad day, made by the agent's own code: a chatty k3s, failing commands. */
async function hostileEvents(keyPem: string): Promise<AgentEvent[]> {
  const recorded = recordingReporter();
  const queue = stepEventQueue(recorded, "k3s.install");
  queue.log(`k3s: loaded /etc/rancher/k3s/config.yaml: token: ${TOKEN}`);
  queue.log(`Authorization: Basic ${Buffer.from(`node:${TOKEN}`).toString("base64")}`);
  queue.progress({ message: `[sudo] password for ops: ${SUDO_PASSWORD}` });
  await queue.flush();

  // A token on a command line, and a failing command whose output tail holds the key, as mustRun reports them.
  const curl = [
    "curl",
    "-fsS",
    "-H",
    `Authorization: Bearer ${TOKEN}`,
    "https://10.0.0.1:6443/ping",
  ] as const;
  const journalctl = ["journalctl", "-u", "k3s", "-n", "8"] as const;
  const exec = fakeExec({
    [curl.join(" ")]: { code: 22, stderr: "curl: (22) The requested URL returned error: 401" },
    [journalctl.join(" ")]: { code: 1, stdout: `starting k3s with key\n${keyPem}` },
  });
  const failures: AgentEvent[] = [];
  for (const argv of [curl, journalctl]) {
    const error = await mustRun(exec, argv).then(
      () => new Error("expected a failure"),
      (caught: unknown) => caught,
    );
    failures.push({ kind: "step.failed", stepId: "k3s.install", durationMs: 5, error: errorInfo(error) });
  }
  return [
    { kind: "run.started", action: "apply", steps: 1 },
    {
      kind: "step.started",
      stepId: "k3s.install",
      title: `Install k3s (token ${TOKEN})`,
      index: 0,
      total: 1,
    },
    ...recorded.events,
    {
      kind: "step.succeeded",
      stepId: "k3s.install",
      durationMs: 9,
      changes: [`wrote ${K3S_TOKEN_FILE} (${Buffer.from(TOKEN).toString("base64")})`],
    },
    ...failures,
    { kind: "run.finished", outcome: "failed", succeeded: 1, skipped: 0, failed: 1 },
  ];
}

function envelopes(events: readonly AgentEvent[]): EventEnvelope[] {
  return events.map((event, index) => ({
    runId: RUN,
    host: HOST,
    seq: index + 1,
    at: "2030-01-01T00:00:00.000Z",
    event,
  }));
}

/** Feeds `events` to a welcomed AgentConnection over `sink`, then resends one: the run's agent channel. */
function stream(sink: JournalSink, reporter: UpReporter, events: readonly EventEnvelope[]): FakeWebSocket {
  const ws = new FakeWebSocket();
  new AgentConnection(
    ws.socket,
    { host: HOST, serial: "01", remote: "10.0.0.1:50000" },
    {
      // Each frame committed as it arrives (a group of one), so every event is acked on its own.
      commits: new GroupCommit({
        sink,
        schedule: (flush) => {
          flush();
        },
      }),
      onHello: (host) => ({ plan: { runId: RUN, host, action: "apply", steps: [] }, ackedSeq: 0 }),
      onEvent: (envelope) => {
        reporter.event(envelope);
      },
      report: (error) => {
        reporter.note(`agent error: ${error.message}`);
      },
      now: () => 0,
      closeGraceMs: 60_000,
    },
    () => undefined,
  );
  ws.receive(JSON.stringify({ type: "hello", protocol: 1, agentVersion: "test", host: HOST, runId: RUN }));
  for (const envelope of [...events, events[2]!]) ws.receive(JSON.stringify({ type: "event", envelope }));
  return ws;
}

/** The journal's files as they are now, named "<when>:<file>". */
function journalFiles(file: string, when: string): Record<string, Buffer> {
  return Object.fromEntries(
    ["", "-wal", "-shm"]
      .filter((suffix) => existsSync(file + suffix))
      .map((suffix) => [`${when}:${path.basename(file + suffix)}`, readFileSync(file + suffix)]),
  );
}

describe("secrets never reach the journal, its WAL or the terminal", { timeout: 20_000 }, () => {
  it("redacts what hosts report and what fails on the provisioner, on every path", async () => {
    const pki = await Pki.open(dir);
    await pki.ensureCa();
    const registry = await pki.issueRegistryCert(["10.0.0.1"]);
    const secrets = { token: TOKEN, sudo: SUDO_PASSWORD, registryKey: registry.keyPem };

    // The run's redaction, made as `up` makes it.
    const fleet = inventory();
    const sudoPasswords = await resolveSudoPasswords(fleet, { CP1_SUDO: SUDO_PASSWORD }, undefined);
    const screen = terminal();
    const run = withRedaction({ inventory: fleet, sudoPasswords, reporter: screen.reporter });
    run.redactor.add(await resolveToken(fleet.cluster.token, dir));
    run.redactor.add(new Secret(registry.keyPem));

    const journal = Journal.open(journalPath(dir));
    journal.startRun({ id: RUN, action: "apply", inventory: fleet.file, hosts: [HOST] });
    const sent = envelopes(await hostileEvents(registry.keyPem));
    const ws = stream(redactingSink(journal, run.redactor), run.reporter, sent);
    // Every event is committed and acked, and the resend is a duplicate of its redacted form, not a conflict.
    expect(ws.closedWith).toBeUndefined();
    expect(ws.of("ack").map((ack) => ack.seq)).toEqual([
      ...sent.map((envelope) => envelope.seq),
      sent.length,
    ]);

    // A provisioner-side failure whose message quotes the secrets: a broken `install` echoing its
    // standard input, which carries the sudo password (withSudoPassword) and the token file.
    const root = withSudoPassword(
      fakeExec({
        [`sha256sum -- ${K3S_TOKEN_FILE}`]: { code: 1 },
        "sudo -n -- true": { code: 1, stderr: "sudo: a password is required" },
        [`sudo -k -S -p  -- sha256sum -- ${K3S_TOKEN_FILE}`]: { code: 1 },
        [`sudo -k -S -p  -- mkdir -p -m 0700 -- ${path.posix.dirname(K3S_TOKEN_FILE)}`]: {},
        [`sudo -k -S -p  -- install -m 0600 /dev/stdin ${K3S_TOKEN_FILE}`]: (_argv, options) => ({
          code: 1,
          stderr: `install: cannot read '/dev/stdin': ${options?.input ?? ""}`,
        }),
      }),
      sudoPasswords.get(HOST)!,
    );
    const failure = await installRemoteFile(root, HOST, K3S_TOKEN_FILE, `${TOKEN}\n`, 0o600).then(
      () => new Error("expected the install to fail"),
      (caught: unknown) => caught,
    );
    expect(failure).toMatchObject({ code: "AGENT_PUSH_FAILED" });
    expect(leaks(failure instanceof Error ? failure.message : "", secrets)).not.toEqual([]);
    // As `up` reports a host it could not start, and as the CLI prints the error that ends it.
    run.reporter.phase(
      HOST,
      `FAILED to start the agent: ${failure instanceof Error ? failure.message : ""}`,
      "failed",
    );
    const stderr = errorText(redactError(failure, run.redactor));

    // The WAL holds the run's writes (nothing was checkpointed yet): search it before the journal closes.
    const walFile = `${journalPath(dir)}-wal`;
    expect(readFileSync(walFile).length).toBeGreaterThan(0);
    const open = journalFiles(journalPath(dir), "open");
    expect(Object.keys(open)).toContain("open:journal.db-wal");

    // `groundcrew logs` through the real CLI, reading the journal while it is written.
    let logs = "";
    const io = redactingIo({ out: (text) => (logs += text), progress: () => undefined }, run.redactor);
    await createProgram(io).parseAsync(["logs", "--run", RUN], { from: "user" });
    journal.close();

    for (const [name, bytes] of Object.entries({ ...open, ...journalFiles(journalPath(dir), "closed") })) {
      expect({ file: name, leaks: leaks(bytes, secrets) }).toEqual({ file: name, leaks: [] });
    }
    const outputs = { lines: screen.lines, json: screen.json, notes: screen.notes, stderr, logs };
    for (const [name, text] of Object.entries(outputs)) {
      expect({ output: name, leaks: leaks(text, secrets) }).toEqual({ output: name, leaks: [] });
    }
    // The events did get through, redacted: the log line, the failed command and the key's tail.
    expect(logs).toMatch(/token: \[redacted\]/);
    expect(logs).toMatch(/HOST_COMMAND_FAILED.*Bearer \[redacted\]/);
    expect(logs).toMatch(/\[redacted\] \| .*-----END RSA PRIVATE KEY-----/);
    expect(stderr).toMatch(
      /^groundcrew: cp1: cannot write .* \[redacted\]\n\[redacted\] \[AGENT_PUSH_FAILED\]\n$/,
    );
  });

  it("the search finds a secret in the WAL when nothing redacts (the checks above can fail)", async () => {
    const journal = Journal.open(journalPath(dir));
    journal.startRun({ id: RUN, action: "apply", inventory: "fleet.yaml", hosts: [HOST] });
    const screen = terminal();
    stream(
      journal,
      screen.reporter,
      envelopes(await hostileEvents("-----BEGIN KEY-----\n-----END KEY-----")),
    );
    const wal = readFileSync(`${journalPath(dir)}-wal`);
    journal.close();
    expect(leaks(wal, { token: TOKEN, sudo: SUDO_PASSWORD })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^token/), expect.stringMatching(/^sudo/)]) as unknown,
    );
    expect(leaks(screen.lines, { token: TOKEN })).not.toEqual([]);
  });

  it("an inventory that holds secrets never quotes them in its errors", () => {
    const broken = [
      "hosts:",
      `  - name: ${HOST}`,
      `    sudo: {password: "${SUDO_PASSWORD}", allowPlaintextPassword: tru}`,
      "cluster:",
      `  token: {value: "${TOKEN}"}`,
      `  tokn: "${TOKEN}"`,
      `  registry: "${TOKEN}`,
    ];
    const ini = [
      `${HOST} ansible_host=10.0.0.1 ansible_become_password='${SUDO_PASSWORD}' ansible_become_password`,
      "[all:var]",
      `k3s_token=${TOKEN}`,
    ];
    for (const [text, file] of [
      [broken.join("\n"), "fleet.yaml"],
      [broken.slice(0, -1).join("\n"), "fleet.yaml"],
      [ini.join("\n"), "hosts.ini"],
    ] as const) {
      const error = (() => {
        try {
          parseInventory(text, path.join(dir, file), {
            fileExists: () => true,
            homeDir: "/home/op",
            env: {},
          });
        } catch (caught) {
          return caught;
        }
        return new Error("expected the inventory to be refused");
      })();
      expect(error).toMatchObject({ code: "INVENTORY_INVALID" });
      expect(leaks(errorText(error), { token: TOKEN, sudo: SUDO_PASSWORD })).toEqual([]);
    }
  });
});
