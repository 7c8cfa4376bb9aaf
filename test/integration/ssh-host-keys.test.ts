import { X509Certificate } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startLab, type Lab, type LabMachine } from "../../server/lab/lab.js";
import { fingerprint, keyBlobFromLine } from "../../server/ssh/host-key.js";
import { formsFound, privateKeyForms } from "../support/key-forms.js";

const run = promisify(execFile);
const CLI = path.resolve("dist", "server", "cli", "main.js");
const DAY = 24 * 60 * 60 * 1000;
const knownHostsSchema = z.record(z.string(), z.array(z.string()));

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const mode = async (file: string): Promise<number> => (await stat(file)).mode & 0o777;

/**
 * SSH host keys against a real sshd (a lab machine), through the compiled
 * CLI with a state directory of its own, run under umask 000 so every mode
 * below is groundcrew's doing:
 * - first contact without --accept-new-host-keys: `check` and `up` refuse
 *   before any command runs (sshd logs no login), say what to do, pin
 *   nothing; `up` has created the state directory 0700 and its journal 0600;
 * - with the flag, the presented key is pinned (known_hosts.json 0600), and
 *   `up` runs: the PKI is 0700 with 0600 files, the host gets a 7-day
 *   certificate, and nothing on the host holds the CA key in any form;
 * - a changed host key: `check` and `up` (even with the flag) stop before
 *   any command, print the pinned and the presented SHA256 fingerprints, and
 *   change neither the host nor known_hosts.json.
 */
describe("SSH host keys pinned in the state directory, against a real sshd", { timeout: 300_000 }, () => {
  let lab: Lab;
  let machine: LabMachine;
  let work: string;
  let inventory: string;

  const groundcrew = (stateDir: string, ...args: string[]): Promise<CliResult> =>
    run("sh", ["-c", 'umask 000 && exec "$0" "$@"', process.execPath, CLI, ...args], {
      env: { ...process.env, GROUNDCREW_STATE_DIR: stateDir },
      maxBuffer: 1 << 26,
      timeout: 240_000,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: unknown) => error as CliResult,
    );

  /** Runs a shell script as root on the machine through Docker, not SSH: it works whatever its host key. */
  const onHost = async (script: string, encoding: "utf8" | "buffer" = "utf8"): Promise<Buffer> => {
    const { stdout } = await run("docker", ["exec", machine.containerName, "sh", "-c", script], {
      encoding: "buffer",
      maxBuffer: 1 << 30,
    });
    return encoding === "buffer" ? stdout : Buffer.from(stdout.toString("utf8"));
  };

  /** Logins sshd has accepted since the machine booted: a command needs one. */
  const logins = async (): Promise<number> =>
    Number(
      (
        await onHost("journalctl -u ssh.service --no-pager -o cat | grep -c 'Accepted publickey' || true")
      ).toString(),
    );

  /** Every path, size and mtime where groundcrew or a login could leave something. */
  const hostTrace = async (): Promise<string> =>
    (
      await onHost(
        "find /home /root /tmp /var/tmp /var/lib/groundcrew /etc -xdev -printf '%p %s %T@\\n' 2>/dev/null | sort; true",
      )
    ).toString();

  const fingerprintsOf = (lines: readonly string[]): string[] =>
    lines.map((line) => fingerprint(keyBlobFromLine(line)));

  beforeAll(async () => {
    lab = await startLab({ machines: 1 });
    machine = lab.machines[0]!;
    work = await mkdtemp(path.join(tmpdir(), "gc-host-keys-"));
    inventory = path.join(work, "fleet.yaml");
    await writeFile(
      inventory,
      [
        "defaults:",
        `  user: ${lab.user}`,
        `  key: ${lab.privateKeyPath}`,
        "hosts:",
        `  - {name: ${machine.name}, address: ${machine.address}, role: server}`,
        "",
      ].join("\n"),
    );
  });

  afterAll(async () => {
    await lab.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("first contact without --accept-new-host-keys: check and up refuse before any command, say what to do, pin nothing", async () => {
    const stateDir = path.join(work, "first", "state");
    const trace = await hostTrace();
    const loginsBefore = await logins();
    const firstContact = new RegExp(
      `^.*${machine.name}: first contact with ${machine.address.replaceAll(".", "\\.")}, host key (SHA256:[A-Za-z0-9+/]{43}): ` +
        "verify it and run again with --accept-new-host-keys to pin it",
      "m",
    );

    const check = await groundcrew(stateDir, "check", "-i", inventory);
    expect(check.code).toBe(1);
    const shown = firstContact.exec(check.stdout)?.[1];
    expect(fingerprintsOf(machine.hostKeys)).toContain(shown);

    const up = await groundcrew(stateDir, "up", "-i", inventory);
    expect(up.code).toBe(1);
    expect(up.stdout).toMatch(firstContact);
    expect(up.stdout).toContain("nothing was changed");

    expect(await readdir(stateDir).catch(() => [])).not.toContain("known_hosts.json");
    expect(await logins()).toBe(loginsBefore);
    expect(await hostTrace()).toBe(trace);
    // `up` made the state directory (for its journal), and nothing of the PKI yet.
    expect(await mode(stateDir)).toBe(0o700);
    expect(await mode(path.join(stateDir, "journal.db"))).toBe(0o600);
    expect(await readdir(stateDir)).not.toContain("pki");
  });

  it("--accept-new-host-keys pins the presented key; up then runs with short-lived certificates and leaves no CA key on the host", async () => {
    const stateDir = path.join(work, "pinned", "state");
    const loginsBefore = await logins();
    const check = await groundcrew(stateDir, "check", "-i", inventory, "--accept-new-host-keys");
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const knownHostsFile = path.join(stateDir, "known_hosts.json");
    const pinned = knownHostsSchema.parse(JSON.parse(await readFile(knownHostsFile, "utf8")));
    const offered = machine.hostKeys.map((line) => line.split(" ")[1]);
    expect(Object.keys(pinned)).toEqual([`${machine.address}:22`]);
    expect(pinned[`${machine.address}:22`]).toHaveLength(1);
    expect(offered).toContain(pinned[`${machine.address}:22`]![0]);
    expect(await mode(stateDir)).toBe(0o700);
    expect(await mode(knownHostsFile)).toBe(0o600);
    // The login count sees a command when one runs: the refusals above counted none.
    expect(await logins()).toBeGreaterThan(loginsBefore);

    const port = String(20_000 + Math.floor(Math.random() * 20_000));
    const up = await groundcrew(stateDir, "up", "-i", inventory, "--port", port, "--host-grace", "60");
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/all 1 host\(s\) succeeded/);

    const pki = path.join(stateDir, "pki");
    expect(await mode(pki)).toBe(0o700);
    for (const name of await readdir(pki)) expect(await mode(path.join(pki, name)), name).toBe(0o600);
    expect(await mode(path.join(stateDir, "journal.db"))).toBe(0o600);

    // Short-lived certificates: the host's 7 days, the provisioner's 30, both from an hour back.
    const hostCert = new X509Certificate(await onHost("cat /var/lib/groundcrew/agent/tls/host.pem"));
    const serverCert = new X509Certificate(await readFile(path.join(pki, "server-cert.pem")));
    const span = (cert: X509Certificate): number => Date.parse(cert.validTo) - Date.parse(cert.validFrom);
    expect(span(hostCert)).toBe(7 * DAY + 3_600_000);
    expect(span(serverCert)).toBe(30 * DAY + 3_600_000);
    expect(hostCert.subject).toBe(`CN=${machine.name}`);

    // Everything groundcrew and the logins could have written, the agent executables left out (they are the build).
    const files = await onHost(
      "tar -C / -cf - --exclude='groundcrew-agent*' etc home root tmp var/tmp var/lib/groundcrew run 2>/dev/null; true",
      "buffer",
    );
    const caKey = await readFile(path.join(pki, "ca-key.pem"), "utf8");
    expect(formsFound(files, privateKeyForms(caKey))).toEqual([]);
    // The search works on this archive: it finds the host's own key, which belongs there.
    const hostKey = (await onHost("cat /var/lib/groundcrew/agent/tls/host-key.pem")).toString();
    expect(formsFound(files, privateKeyForms(hostKey))).toContain("PEM");
  });

  it("a changed host key: check and up stop before any command, print both fingerprints, change nothing", async () => {
    const stateDir = path.join(work, "pinned", "state");
    const knownHostsFile = path.join(stateDir, "known_hosts.json");
    const pinnedLine = knownHostsSchema.parse(JSON.parse(await readFile(knownHostsFile, "utf8")))[
      `${machine.address}:22`
    ]![0]!;
    const pinned = fingerprint(Buffer.from(pinnedLine, "base64"));
    // The machine gets new host keys (as a reinstalled or impostor machine would have).
    await onHost(
      "systemctl stop groundcrew-agent.service; rm -f /etc/ssh/ssh_host_* && systemctl restart ssh",
    );
    const presented = fingerprintsOf(
      (await onHost("cat /etc/ssh/ssh_host_*_key.pub")).toString().trim().split("\n"),
    );
    expect(presented).not.toContain(pinned);

    const knownBefore = await readFile(knownHostsFile);
    const knownMtime = (await stat(knownHostsFile)).mtimeMs;
    const trace = await hostTrace();
    const loginsBefore = await logins();
    const mismatch = new RegExp(
      `${machine.name}: host key (SHA256:[A-Za-z0-9+/]{43}) is not the pinned one \\((SHA256:[A-Za-z0-9+/]{43})\\)`,
    );

    for (const args of [
      ["check", "-i", inventory],
      ["up", "-i", inventory, "--accept-new-host-keys"],
    ]) {
      const result = await groundcrew(stateDir, ...args);
      expect(result.code, args[0]).toBe(1);
      const match = mismatch.exec(result.stdout);
      expect(match, result.stdout).not.toBeNull();
      expect(presented).toContain(match?.[1]);
      expect(match?.[2]).toBe(pinned);
    }

    expect((await readFile(knownHostsFile)).equals(knownBefore)).toBe(true);
    expect((await stat(knownHostsFile)).mtimeMs).toBe(knownMtime);
    expect(await logins()).toBe(loginsBefore);
    expect(await hostTrace()).toBe(trace);
  });
});
