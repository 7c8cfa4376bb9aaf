import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { errorText } from "../../server/cli/error-text.js";
import { createProgram } from "../../server/cli/program.js";
import { ProgressView } from "../../server/cli/progress/progress-view.js";
import { resolveToken } from "../../server/cluster/k3s-token.js";
import { K3S_TOKEN_FILE, REGISTRY_TLS_FILES } from "../../server/deploy/layout.js";
import { installRemoteFile } from "../../server/deploy/remote-file.js";
import { parseInventory } from "../../server/inventory/load.js";
import { Journal } from "../../server/journal/index.js";
import { openCommandLog } from "../../server/log/command-log.js";
import { loggedSink } from "../../server/log/journal-commits.js";
import { loggedReporter } from "../../server/log/logged-reporter.js";
import { logsDir } from "../../server/log/log-file.js";
import { errorFields } from "../../server/log/logger.js";
import { connectHost } from "../../server/orchestrate/host-session.js";
import { redactError, redactingSink, withRedaction } from "../../server/orchestrate/redaction.js";
import { resolveSudoPasswords } from "../../server/orchestrate/sudo-passwords.js";
import { journalPath, type UpReporter } from "../../server/orchestrate/up.js";
import { Pki } from "../../server/pki/pki.js";
import { KnownHosts } from "../../server/ssh/known-hosts.js";
import { AGENT_CACHE_DIR, pushAgent } from "../../server/ssh/push-agent.js";
import type { AgentEvent, EventEnvelope } from "../../shared/protocol.js";
import { Secret } from "../../shared/secret.js";
import { secretLeaks } from "../support/secret-forms.js";
import { startSshDouble, type ExecAnswer, type SshDouble } from "../support/ssh-double.js";

/**
 * Secret hygiene with the logger on: a known k3s token, sudo password,
 * registry key and SSH key go through the provisioner's real code (SSH to
 * an in-process SSH server, the sudo wrapper, remote files, the agent push,
 * the journal, the CLI) on paths that succeed, fail, and log at debug
 * (`--verbose`). Then stderr, every log file, the journal and its -wal and
 * -shm, and the terminal are searched byte for byte for each secret in every
 * form (as is, JSON-escaped, base64, hex, each line of a key).
 */

const RUN = "r-verbose";
const HOST = "cp1";
const USER = "ops";
const TOKEN = "K10c0ffee5eed::server:9a8b7c6d5e4f3a2b";
const SUDO_PASSWORD = "Sudo-'Pa55'-e4d3c2b1";
const AGENT_BYTES = "#!/bin/sh\necho a stand-in agent\n";
const AGENT_SHA = createHash("sha256").update(AGENT_BYTES).digest("hex");

let dir: string;
let ssh: SshDouble;
/** What the double's host holds: files written as root, and whether its sudo passes input through. */
let host: { files: Map<string, string>; sudoEchoes: boolean; stdin: string[] };

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The fleet host: sudo wants the password on stdin; a broken sudo prints what it read. */
function answer(command: string, stdin: string): ExecAnswer {
  host.stdin.push(stdin);
  if (command === "sudo -n -- true") return { code: 1, stderr: "sudo: a password is required\n" };
  const sudo = /^sudo -k -S -p '' -- (.*)$/.exec(command);
  if (sudo === null) return asUser(command);
  const [password, ...rest] = stdin.split("\n");
  if (password !== SUDO_PASSWORD) return { code: 1, stderr: "sudo: 1 incorrect password attempt\n" };
  if (host.sudoEchoes) return { code: 1, stderr: `sudo: unable to run: read ${JSON.stringify(stdin)}\n` };
  return asRoot(sudo[1] ?? "", rest.join("\n"), stdin);
}

function asRoot(command: string, input: string, stdin: string): ExecAnswer {
  if (command === "true" || command.startsWith("mkdir -p -m 0700 -- ")) return { code: 0 };
  const sum = /^sha256sum -- (\S+)$/.exec(command);
  if (sum !== null) {
    const content = host.files.get(sum[1] ?? "");
    return content === undefined ? { code: 1 } : { code: 0, stdout: `${sha(content)}  ${sum[1] ?? ""}\n` };
  }
  const install = /^install -m 0[0-7]{3} \/dev\/stdin (\S+)$/.exec(command);
  if (install?.[1] === REGISTRY_TLS_FILES.key) {
    // sudo handed the command its own input too: install quotes all of it.
    return { code: 1, stderr: `install: cannot read '/dev/stdin': ${stdin}` };
  }
  if (install !== null) {
    host.files.set(install[1] ?? "", input);
    return { code: 0 };
  }
  if (command.endsWith(" facts")) return { code: 1, stderr: `facts: k3s config: token: ${TOKEN}\n` };
  return { code: 127, stderr: `${command}: not found\n` };
}

function asUser(command: string): ExecAnswer {
  if (command.startsWith(`sha256sum -- ${ssh.home}/${AGENT_CACHE_DIR}/`)) {
    return { code: 0, stdout: `${AGENT_SHA}  ${command.slice("sha256sum -- ".length)}\n` };
  }
  if (command.startsWith("mkdir -p -m 700 -- ")) return { code: 0 };
  if (/^env K3S_TOKEN=\S+ k3s check-config$/.test(command)) return { code: 0, stdout: "ok\n" };
  return { code: 127, stderr: `${command}: not found\n` };
}

/** What a host reports on a bad day: every secret in a log line, a progress message, a change and an error. */
function hostileEvents(keyPem: string): AgentEvent[] {
  return [
    { kind: "run.started", action: "apply", steps: 1 },
    {
      kind: "step.started",
      stepId: "k3s.install",
      title: `Install k3s (token ${TOKEN})`,
      index: 0,
      total: 1,
    },
    { kind: "step.log", stepId: "k3s.install", stream: "stderr", line: `loaded config: token: ${TOKEN}` },
    { kind: "step.progress", stepId: "k3s.install", message: `[sudo] password for ops: ${SUDO_PASSWORD}` },
    {
      kind: "step.succeeded",
      stepId: "k3s.install",
      durationMs: 9,
      changes: [`wrote ${K3S_TOKEN_FILE} (${Buffer.from(TOKEN).toString("base64")})`],
    },
    {
      kind: "step.failed",
      stepId: "k3s.install",
      durationMs: 5,
      error: { code: "HOST_COMMAND_FAILED", message: `registry said: ${keyPem.split("\n").join(" | ")}` },
    },
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

function writeInventory(): string {
  const keyFile = path.join(dir, "id_ed25519");
  writeFileSync(keyFile, ssh.clientKey.privateKey, { mode: 0o600 });
  const file = path.join(dir, "fleet.yaml");
  writeFileSync(
    file,
    [
      "hosts:",
      `  - name: ${HOST}`,
      `    address: ${ssh.address}`,
      `    port: ${ssh.port}`,
      "    role: server",
      `    user: ${USER}`,
      `    key: ${keyFile}`,
      `    sudo: {password: "${SUDO_PASSWORD.replaceAll("'", "'")}", allowPlaintextPassword: true}`,
      "cluster:",
      `  token: {value: "${TOKEN}", allowPlaintextToken: true}`,
      "",
    ].join("\n"),
  );
  return file;
}

/** Every log file written so far, by name. */
function logFiles(): Record<string, Buffer> {
  const logs = logsDir(dir);
  if (!existsSync(logs)) return {};
  return Object.fromEntries(readdirSync(logs).map((name) => [name, readFileSync(path.join(logs, name))]));
}

function journalFiles(when: string): Record<string, Buffer> {
  const file = journalPath(dir);
  return Object.fromEntries(
    ["", "-wal", "-shm"]
      .filter((suffix) => existsSync(file + suffix))
      .map((suffix) => [`${when}:${path.basename(file + suffix)}`, readFileSync(file + suffix)]),
  );
}

function expectNoLeaks(
  outputs: Readonly<Record<string, Buffer | string>>,
  secrets: Readonly<Record<string, string>>,
): void {
  for (const [name, bytes] of Object.entries(outputs)) {
    expect({ output: name, leaks: secretLeaks(bytes, secrets) }).toEqual({ output: name, leaks: [] });
  }
}

function records(bytes: Buffer | undefined): Record<string, unknown>[] {
  return (bytes ?? Buffer.alloc(0))
    .toString("utf8")
    .trimEnd()
    .split("\n")
    .map((line): unknown => JSON.parse(line))
    .filter((record): record is Record<string, unknown> => typeof record === "object" && record !== null);
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "gc-verbose-"));
  vi.stubEnv("GROUNDCREW_STATE_DIR", dir);
  const agent = path.join(dir, "agent");
  writeFileSync(agent, AGENT_BYTES, { mode: 0o755 });
  vi.stubEnv("GROUNDCREW_AGENT_BINARY", agent);
  host = { files: new Map(), sudoEchoes: false, stdin: [] };
  ssh = await startSshDouble({ user: USER, exec: answer });
});
afterEach(async () => {
  vi.unstubAllEnvs();
  process.exitCode = undefined;
  await ssh.close();
  rmSync(dir, { recursive: true, force: true });
});

describe(
  "secrets never reach the log file, --verbose, the journal or the terminal",
  { timeout: 30_000 },
  () => {
    it("`check --verbose` (flag after or before the command) and plain `check`, against a real SSH server", async () => {
      const inventoryFile = writeInventory();
      const secrets = { token: TOKEN, sudo: SUDO_PASSWORD, sshKey: ssh.clientKey.privateKey };
      const runs: { argv: string[]; out: string; progress: string; stderr: string }[] = [];
      const check = async (argv: string[], sudoEchoes: boolean): Promise<void> => {
        host.sudoEchoes = sudoEchoes;
        const run = { argv, out: "", progress: "", stderr: "" };
        runs.push(run);
        const io = {
          out: (text: string) => (run.out += text),
          progress: (text: string) => (run.progress += `${text}\n`),
          stderr: (text: string) => (run.stderr += text),
        };
        await createProgram(io).parseAsync(argv, { from: "user" });
      };
      // A sudo that prints the password it read (the check fails at sudo), first contact with the host key.
      await check(["check", "-i", inventoryFile, "--accept-new-host-keys", "--verbose"], true);
      // sudo works; the agent build is there; its facts fail quoting the token.
      await check(["--verbose", "check", "-i", inventoryFile], false);
      await check(["check", "-i", inventoryFile], false);

      const files = logFiles();
      const names = Object.keys(files).sort();
      expect(names).toHaveLength(3);
      expectNoLeaks(
        {
          ...files,
          ...Object.fromEntries(
            runs.flatMap((run, at) => [
              [`out${at}`, run.out],
              [`progress${at}`, run.progress],
              [`stderr${at}`, run.stderr],
            ]),
          ),
        },
        secrets,
      );
      // The secrets did travel: the password on sudo's stdin (the search finds it there), the reasons quoted them.
      expect(host.stdin.some((stdin) => secretLeaks(stdin, { sudo: SUDO_PASSWORD }).length > 0)).toBe(true);
      expect(runs[0]?.out).toMatch(/\[redacted\]/);
      expect(runs[1]?.out).toMatch(/token: \[redacted\]/);

      // In the order they were written (names share a second): by their first line's time.
      const [first, second, quiet] = names
        .map((name) => records(files[name]))
        .sort((a, b) => String(a[0]?.["time"]).localeCompare(String(b[0]?.["time"])));
      const messages = (lines: Record<string, unknown>[] | undefined): unknown[] =>
        (lines ?? []).map((line) => line["msg"]);
      expect(first).toContainEqual(
        expect.objectContaining({
          level: "info",
          msg: "ssh connected",
          hostKey: "first contact: pinned now",
          host: HOST,
        }),
      );
      expect(second).toContainEqual(
        expect.objectContaining({ msg: "ssh connected", hostKey: "matches the pinned key" }),
      );
      expect(first).toContainEqual(
        expect.objectContaining({
          level: "debug",
          msg: "ssh exec",
          cmd: "sudo -k -S -p '' -- true",
          stdin: true,
          code: 1,
        }),
      );
      expect(first).toContainEqual(expect.objectContaining({ msg: "host probed", failedAt: "sudo" }));
      expect(second).toContainEqual(expect.objectContaining({ msg: "agent build already on the host" }));
      expect(second).toContainEqual(
        expect.objectContaining({
          msg: "host probed",
          failedAt: "agent",
          reason: expect.stringMatching(/token: \[redacted\]/) as unknown,
        }),
      );
      // Without --verbose: info only in the file, nothing on stderr.
      expect(messages(quiet)).toContain("ssh connected");
      expect(messages(quiet)).not.toContain("ssh exec");
      expect(runs[2]?.stderr).toBe("");
      // With it, every line of the file is also on stderr, one line each.
      expect(runs[1]?.stderr.trimEnd().split("\n")).toHaveLength(second?.length ?? -1);
      expect(runs[1]?.stderr).toMatch(
        /DEBUG \[cp1\] ssh exec cmd="sudo -k -S -p '' -- true" stdin=true code=0/,
      );
    });

    it("up's wiring: remote files, the agent push, a failing install, agent events into the journal and its WAL", async () => {
      const inventoryFile = writeInventory();
      const pki = await Pki.open(dir);
      await pki.ensureCa();
      const registry = await pki.issueRegistryCert([ssh.address]);
      const secrets = {
        token: TOKEN,
        sudo: SUDO_PASSWORD,
        registryKey: registry.keyPem,
        sshKey: ssh.clientKey.privateKey,
      };
      const fleet = parseInventory(readFileSync(inventoryFile, "utf8"), inventoryFile, {
        fileExists: existsSync,
        homeDir: dir,
        env: {},
      });
      const inventoryHost = fleet.hosts[0]!;

      // As `up` wires it: the CLI's logger and reporter (terminal + log), then withRedaction around them.
      let stderr = "";
      const screen = { lines: "", notes: "" };
      const view = new ProgressView([HOST], { write: (text) => (screen.lines += text) }, "lines", () => 0);
      const sudoPasswords = await resolveSudoPasswords(fleet, {}, undefined);
      const run0 = withRedaction({
        inventory: fleet,
        sudoPasswords,
        reporter: {
          phase: () => undefined,
          event: () => undefined,
          transfer: () => undefined,
          note: () => undefined,
        } satisfies UpReporter,
      });
      const logging = openCommandLog({
        command: "up",
        stateDir: dir,
        redactor: run0.redactor,
        verbose: true,
        stderr: (text) => (stderr += text),
      });
      const { log } = logging;
      const run = withRedaction({
        inventory: fleet,
        sudoPasswords,
        redactor: run0.redactor,
        reporter: loggedReporter(
          {
            phase: (name, text, state) => {
              view.phase(name, text, state);
            },
            event: (envelope) => {
              view.event(envelope);
            },
            transfer: () => undefined,
            note: (text) => (screen.notes += `${text}\n`),
          },
          log,
        ),
      });
      run.redactor.add(await resolveToken(fleet.cluster.token, dir));
      run.redactor.add(new Secret(registry.keyPem));

      const connection = await connectHost(inventoryHost, {
        knownHosts: await KnownHosts.open(dir),
        acceptNewHostKeys: true,
        sudoPasswords,
        redactor: run.redactor,
        log,
      });
      try {
        // Success: the token file, over sudo's stdin; a command whose environment holds the token.
        expect(await installRemoteFile(connection.root, HOST, K3S_TOKEN_FILE, `${TOKEN}\n`, 0o600)).toBe(
          true,
        );
        expect(host.files.get(K3S_TOKEN_FILE)).toBe(`${TOKEN}\n`);
        expect(
          (await connection.session.run(["k3s", "check-config"], { env: { K3S_TOKEN: TOKEN } })).code,
        ).toBe(0);
        // The agent build is already in the cache: nothing is sent.
        expect(
          await pushAgent(connection.session, { path: path.join(dir, "agent"), sha256: AGENT_SHA }),
        ).toMatchObject({
          uploaded: false,
        });
        // Failure: the registry key, whose install quotes its whole input (the password and the key), as startAgent reports it.
        const failure = await installRemoteFile(
          connection.root,
          HOST,
          REGISTRY_TLS_FILES.key,
          registry.keyPem,
          0o600,
        ).then(
          () => new Error("expected the install to fail"),
          (caught: unknown) => caught,
        );
        expect(failure).toMatchObject({ code: "AGENT_PUSH_FAILED" });
        expect(secretLeaks(failure instanceof Error ? failure.message : "", secrets)).not.toEqual([]);
        log.error({ host: HOST, ...errorFields(failure) }, "agent not started");
        run.reporter.phase(
          HOST,
          `FAILED to start the agent: ${failure instanceof Error ? failure.message : ""}`,
          "failed",
        );

        // The agents' channel: events that quote every secret, committed through the logged, redacting sink.
        const journal = Journal.open(journalPath(dir));
        journal.startRun({ id: RUN, action: "apply", inventory: fleet.file, hosts: [HOST] });
        const sink = loggedSink(redactingSink(journal, run.redactor), log);
        const sent = envelopes(hostileEvents(registry.keyPem));
        // As the agent server takes them: each committed, then shown; one resent (a duplicate).
        for (const envelope of [...sent, sent[1]!]) {
          if (sink.append(envelope) === "inserted") run.reporter.event(envelope);
        }
        expect(sink.summary()).toEqual({ inserted: sent.length, duplicates: 1, refused: 0 });
        // As the CLI ends a failed run: the error logged, then printed.
        log.error(errorFields(failure), "up failed");
        const printed = errorText(redactError(failure, run.redactor));
        logging.close();

        expect(readFileSync(`${journalPath(dir)}-wal`).length).toBeGreaterThan(0);
        const open = journalFiles("open");
        journal.close();
        const files = logFiles();
        expect(Object.keys(files)).toHaveLength(1);
        expectNoLeaks(
          {
            ...files,
            ...open,
            ...journalFiles("closed"),
            stderr,
            lines: screen.lines,
            notes: screen.notes,
            printed,
          },
          secrets,
        );

        // What the log shows, redacted: the sudo wrapping without the password, the token's command, the error and its code.
        const lines = records(Object.values(files)[0]);
        const execs = lines.filter((line) => line["msg"] === "ssh exec").map((line) => line["cmd"]);
        expect(execs).toContain(`sudo -k -S -p '' -- install -m 0600 /dev/stdin ${K3S_TOKEN_FILE}`);
        expect(execs).toContain("env K3S_TOKEN=[redacted] k3s check-config");
        expect(lines).toContainEqual(
          expect.objectContaining({
            msg: "commands run as root through sudo",
            sudo: "sudo -S (password on stdin)",
          }),
        );
        const failed = lines.find((line) => line["msg"] === "agent not started");
        expect(failed).toMatchObject({
          level: "error",
          code: "AGENT_PUSH_FAILED",
          err: { code: "AGENT_PUSH_FAILED" },
        });
        expect(JSON.stringify(failed)).toMatch(/cannot write .*\[redacted\]/);
        // One line per lifecycle event and per resend, none for log lines and progress; never a body.
        const commits = lines.filter((line) => line["msg"] === "journal commit");
        expect(commits.map((line) => `${String(line["kind"])} ${String(line["result"])}`)).toEqual([
          "run.started inserted",
          "step.started inserted",
          "step.succeeded inserted",
          "step.failed inserted",
          "run.finished inserted",
          "step.started duplicate",
        ]);
        expect(lines).toContainEqual(
          expect.objectContaining({ msg: "journal: events committed", inserted: sent.length }),
        );
        // The reporter's phase lines are in the log too, redacted before the logger saw them.
        expect(lines).toContainEqual(
          expect.objectContaining({
            level: "info",
            host: HOST,
            state: "failed",
            msg: expect.stringMatching(
              /^FAILED to start the agent: cp1: cannot write .*\[redacted\]/,
            ) as unknown,
          }),
        );
        expect(stderr.trimEnd().split("\n")).toHaveLength(lines.length);
        expect(stderr).toMatch(
          /ERROR \[cp1\] agent not started code=AGENT_PUSH_FAILED err="GroundcrewError: cp1: cannot write /,
        );
      } finally {
        connection.session.close();
      }
    });
  },
);
