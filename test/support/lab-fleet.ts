import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { debFileName } from "../../server/cli/commands/bundle.js";
import { startLab, type Lab } from "../../server/lab/lab.js";
import { keyBlobFromLine, pinnedKeys } from "../../server/ssh/host-key.js";
import { KnownHosts } from "../../server/ssh/known-hosts.js";
import { SshSession } from "../../server/ssh/session.js";

const run = promisify(execFile);
const CLI = path.resolve("dist", "server", "cli", "main.js");
/** Real Debian packages fetched by scripts/setup: the artifacts of lab bundles. */
export const FIXTURE_DEBS = path.resolve("test", "fixtures", "debs");

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export const uplinkSchema = z.object({
  uplink: z.object({ sshBytes: z.number(), artifactsOverSsh: z.number(), artifactsOverHttps: z.number() }),
});
export type Uplink = z.infer<typeof uplinkSchema>["uplink"];

/**
 * A lab of N machines driven through the compiled CLI with its own state
 * directory (host keys pinned), for end-to-end tests and benchmarks.
 */
export interface LabFleet {
  readonly lab: Lab;
  readonly work: string;
  /** Runs `groundcrew ARGS` (compiled CLI); never rejects. */
  groundcrew(...args: string[]): Promise<CliResult>;
  /** Writes a YAML inventory of every machine (node1 the only server), with node1 as depot or no depot. */
  writeInventory(name: string, options: { depot: boolean; installDocker: boolean }): Promise<string>;
  /** Writes a YAML inventory: the lab's login defaults (user, key), then `lines` (hosts, cluster, ...); resolves its path. */
  writeYamlInventory(name: string, lines: readonly string[]): Promise<string>;
  /** Runs a command as root on a machine over SSH; rejects on a non-zero exit. */
  asRoot(machine: string, argv: [string, ...string[]]): Promise<string>;
  /** Copies a local file to a machine as root (SFTP). */
  uploadAsRoot(machine: string, local: string, remote: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startLabFleet(machines: number): Promise<LabFleet> {
  const lab = await startLab({ machines });
  const work = await mkdtemp(path.join(tmpdir(), "groundcrew-fleet-"));
  const stateDir = path.join(work, "state");
  const knownHosts = await KnownHosts.open(stateDir);
  for (const machine of lab.machines) {
    await knownHosts.pin(machine.address, 22, machine.hostKeys.map(keyBlobFromLine));
  }
  return {
    lab,
    work,
    groundcrew: (...args) =>
      run(process.execPath, [CLI, ...args], {
        env: { ...process.env, GROUNDCREW_STATE_DIR: stateDir },
        maxBuffer: 1 << 26,
        timeout: 300_000,
      }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: unknown) => error as CliResult,
      ),
    async writeInventory(name, options) {
      const file = path.join(work, name);
      const [first, ...others] = lab.machines;
      if (first === undefined) throw new Error("a lab without machines");
      await writeFile(
        file,
        [
          "defaults:",
          `  user: ${lab.user}`,
          `  key: ${lab.privateKeyPath}`,
          `  installDocker: ${options.installDocker}`,
          "hosts:",
          `  - {name: ${first.name}, address: ${first.address}, role: server, depot: ${options.depot}}`,
          ...others.map(
            (machine) => `  - {name: ${machine.name}, address: ${machine.address}, role: worker}`,
          ),
          "",
        ].join("\n"),
      );
      return file;
    },
    async writeYamlInventory(name, lines) {
      const file = path.join(work, name);
      const defaults = ["defaults:", `  user: ${lab.user}`, `  key: ${lab.privateKeyPath}`];
      await writeFile(file, [...defaults, ...lines, ""].join("\n"));
      return file;
    },
    async asRoot(name, argv) {
      const session = await rootSession(lab, name);
      try {
        const result = await session.run(argv);
        if (result.code !== 0) throw new Error(`${name}: ${argv.join(" ")}: ${result.stderr}`);
        return result.stdout;
      } finally {
        session.close();
      }
    },
    async uploadAsRoot(name, local, remote) {
      const session = await rootSession(lab, name);
      try {
        await session.upload(local, remote, 0o644);
      } finally {
        session.close();
      }
    },
    async stop() {
      await lab.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

function rootSession(lab: Lab, name: string): Promise<SshSession> {
  const machine = lab.machines.find((item) => item.name === name);
  if (machine === undefined) throw new Error(`no machine ${name}`);
  return SshSession.connect({
    name,
    host: machine.address,
    username: "root",
    privateKey: lab.privateKey,
    hostKeys: pinnedKeys(machine.hostKeys.map(keyBlobFromLine)),
  });
}

/** The uplink line `up --json` prints last, or undefined. */
export function uplinkOf(stdout: string): Uplink | undefined {
  const line = stdout.split("\n").find((text) => text.startsWith('{"uplink"'));
  return line === undefined ? undefined : uplinkSchema.parse(JSON.parse(line)).uplink;
}

export interface DebsLock {
  readonly file: string;
  /** Sum of the artifacts' sizes. */
  readonly bytes: number;
  readonly sha256s: readonly string[];
}

/** The fixture packages a lab bundle holds unless told otherwise (every host needs them: component host). */
export const DEFAULT_DEBS = ["containerd", "runc", "tini", "docker-registry"] as const;

/**
 * A lock of fixture .debs written to `file`: `packages` (default
 * DEFAULT_DEBS) with the given deb component (default `host`, which every
 * host needs).
 */
export async function writeDebsLock(
  file: string,
  options: { packages?: readonly string[]; component?: "host" | "docker" } = {},
): Promise<DebsLock> {
  const wanted = new Set(options.packages ?? DEFAULT_DEBS);
  const debs = (await readdir(FIXTURE_DEBS))
    .filter((name) => name.endsWith(".deb") && wanted.has(debFileName(name)?.name ?? ""))
    .sort();
  if (debs.length !== wanted.size)
    throw new Error(`missing .deb files in ${FIXTURE_DEBS}: run scripts/setup`);
  const lines = ["name: lab-debs", "arch: [amd64]", "artifacts:"];
  let bytes = 0;
  const sha256s: string[] = [];
  for (const name of debs) {
    const deb = debFileName(name);
    if (deb === undefined) throw new Error(`not a Debian file name: ${name}`);
    const content = await readFile(path.join(FIXTURE_DEBS, name));
    bytes += content.length;
    sha256s.push(createHash("sha256").update(content).digest("hex"));
    lines.push(
      `  - path: debs/${deb.name}.deb`,
      "    kind: deb",
      `    component: ${options.component ?? "host"}`,
      `    name: ${deb.name}`,
      `    version: "${deb.version}"`,
      `    arch: ${deb.arch}`,
      `    source: "file:${path.join(FIXTURE_DEBS, name)}"`,
    );
  }
  await writeFile(file, `${lines.join("\n")}\n`);
  return { file, bytes, sha256s };
}
