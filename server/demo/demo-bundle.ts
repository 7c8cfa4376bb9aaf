import { execFile } from "node:child_process";
import { mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { BUSYBOX_PACKAGE } from "../images/busybox.js";
import {
  buildClusterBundle,
  DOCKER_PACKAGES,
  REGISTRY_PACKAGE,
  type ClusterBundle,
} from "./cluster-bundle.js";
import { demoDir } from "./demo-lab.js";

const run = promisify(execFile);

/** The Debian packages a demo bundle is made of. */
export const DEMO_PACKAGES = [...DOCKER_PACKAGES, REGISTRY_PACKAGE, BUSYBOX_PACKAGE] as const;

/**
 * Downloads the demo's Debian packages with this machine's apt (into
 * `<stateDir>/demo/debs`, kept, so later demos download nothing); packages
 * already there are not fetched again. Resolves what could not be had, in
 * apt's words; never throws for a package apt cannot give.
 */
async function fetchDebs(debsDir: string, onProgress: (message: string) => void): Promise<string[]> {
  await mkdir(debsDir, { recursive: true });
  const present = new Set((await readdir(debsDir)).map((file) => file.split("_")[0]));
  const missing = DEMO_PACKAGES.filter((name) => !present.has(name));
  if (missing.length === 0) return [];
  onProgress(`demo bundle: downloading ${missing.join(", ")} with apt-get`);
  const problems: string[] = [];
  for (const name of missing) {
    await run("apt-get", ["download", "-q", name], { cwd: debsDir, timeout: 300_000 }).catch(
      (error: unknown) => {
        const text = error instanceof Error && "stderr" in error ? String(error.stderr) : String(error);
        problems.push(`${name}: ${text.trim().split("\n").at(-1) ?? "apt-get download failed"}`);
      },
    );
  }
  return problems;
}

/**
 * The demo's bundle: the one the user passed, or one made from what this
 * machine can get (Debian's Docker and registry packages through apt, image
 * archives made here from busybox-static). Says plainly which parts it left
 * out, k3s among them: no k3s binary can be had here, and the demo never
 * uses a test double.
 */
export async function demoBundle(
  stateDir: string,
  arch: "amd64" | "arm64",
  onProgress: (message: string) => void,
): Promise<ClusterBundle> {
  const dir = demoDir(stateDir);
  const debsDir = path.join(dir, "debs");
  const problems = await fetchDebs(debsDir, onProgress);
  for (const problem of problems) onProgress(`demo bundle: could not download ${problem}`);
  const out = path.join(dir, "bundle.tar");
  const work = path.join(dir, "bundle-work");
  await mkdir(work, { recursive: true });
  const bundle = await buildClusterBundle({ debsDir, out, work, arch });
  const size = (await stat(out)).size;
  onProgress(
    `demo bundle: ${out} (${(size / 2 ** 20).toFixed(1)} MiB): images ${bundle.images.join(", ") || "none"}`,
  );
  for (const part of bundle.skipped) onProgress(`demo bundle: left out ${part}`);
  return bundle;
}
