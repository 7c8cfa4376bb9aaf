import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { registryAnswers } from "../../agent/registry/registry-client.js";

const run = promisify(execFile);

/** Debian's docker-registry package (distribution 2.8.2), fetched by scripts/setup. */
const DEBS = path.resolve("test", "fixtures", "debs");

/** A real CNCF distribution registry on 127.0.0.1, its storage in a temp dir. */
export interface RealRegistry {
  readonly url: string;
  readonly port: number;
  readonly output: () => string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** Extracts the registry binary from the .deb into `dir` (dpkg-deb -x); returns its path. */
export async function extractRegistry(dir: string): Promise<string> {
  const deb = (await readdir(DEBS)).find(
    (name) => name.startsWith("docker-registry_") && name.endsWith(".deb"),
  );
  if (deb === undefined) throw new Error(`no docker-registry_*.deb in ${DEBS}: run scripts/setup`);
  await run("dpkg-deb", ["-x", path.join(DEBS, deb), dir]);
  return path.join(dir, "usr", "bin", "docker-registry");
}

/**
 * Starts `binary serve <config>` with filesystem storage under `dir` and,
 * when `tls` is given, HTTPS with that certificate and key. Resolves once
 * GET /v2/ answers; rejects (and kills it) after 20 s.
 */
export async function startRegistry(
  binary: string,
  dir: string,
  tls?: { readonly cert: string; readonly key: string; readonly ca: string },
): Promise<RealRegistry> {
  const home = await mkdtemp(path.join(dir, "registry-"));
  const storage = path.join(home, "storage");
  await mkdir(storage);
  const port = await freePort();
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storage}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
  ];
  if (tls !== undefined) {
    await writeFile(path.join(home, "tls.crt"), tls.cert);
    await writeFile(path.join(home, "tls.key"), tls.key, { mode: 0o600 });
    lines.push(
      "  tls:",
      `    certificate: ${path.join(home, "tls.crt")}`,
      `    key: ${path.join(home, "tls.key")}`,
    );
  }
  const config = path.join(home, "config.yml");
  await writeFile(config, `${lines.join("\n")}\n`);
  const child: ChildProcess = spawn(binary, ["serve", config], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, OTEL_TRACES_EXPORTER: "none" },
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}`;
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    if (alive()) {
      const exited = new Promise<void>((resolve) =>
        child.once("exit", () => {
          resolve();
        }),
      );
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (alive()) child.kill("SIGKILL");
    }
    await rm(home, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  const target = tls === undefined ? { url } : { url, ca: tls.ca };
  while (!(await registryAnswers(target))) {
    if (Date.now() > deadline || !alive()) {
      await stop();
      throw new Error(`the registry did not start on port ${port}: ${output.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { url, port, output: () => output, stop };
}

/** A scratch directory for a test file. */
export function scratchDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), "gc-registry-seed-"));
}
