/** docker.static's binaries on the host: whose are the ones there, and installing them from the tarball. */
import type { Exec, ReadonlyFs } from "../../shared/host-io.js";
import type { StepLedger } from "../ledger/ledger.js";
import { withTree, type LedgerRecord } from "../ledger/record.js";
import { mustRun, tryCommand } from "../runner/host-calls.js";
import {
  binaryPath,
  CONTAINERD_UNIT,
  DOCKER_UNIT,
  SHARED_BINARIES,
  STATIC_BIN_DIR,
  STATIC_BINARIES,
  unitPath,
} from "./docker-static-units.js";

const SCRATCH_TEMPLATE = "/tmp/groundcrew-docker.XXXXXX";
const UNITS = [CONTAINERD_UNIT, DOCKER_UNIT] as const;

/**
 * Where Docker and its containerd keep state (containerd's CRI plugin makes
 * /etc/cni/net.d, its opt plugin /opt/containerd); each one absent before the
 * install is recorded and deleted by undo.
 */
const DATA_TREES = [
  "/var/lib/docker",
  "/var/lib/containerd",
  "/etc/docker",
  "/etc/cni",
  "/opt/containerd",
  "/run/docker",
  "/run/containerd",
] as const;
/** A Docker or containerd installed by packages: adopted as it is. */
const PACKAGED = ["/usr/bin/dockerd", "/usr/sbin/dockerd", "/usr/bin/containerd"] as const;

/** Paths this step's ledger holds as its own (binaries and data trees, written files). */
function ownPaths(record: LedgerRecord | undefined): Set<string> {
  return new Set([...(record?.trees ?? []), ...(record?.files ?? []).map((file) => file.path)]);
}

/**
 * A Docker or containerd that groundcrew did not install: a packaged one,
 * or one of the static binaries (but for SHARED_BINARIES) or units present
 * and not in this step's ledger. Resolves the path that shows it, or undefined.
 */
export async function foreignInstall(
  fs: ReadonlyFs,
  record: LedgerRecord | undefined,
): Promise<string | undefined> {
  for (const file of PACKAGED) if ((await fs.stat(file)) !== undefined) return file;
  const ours = ownPaths(record);
  const binaries = STATIC_BINARIES.filter((name) => !SHARED_BINARIES.includes(name)).map(binaryPath);
  for (const file of [...binaries, ...UNITS.map(unitPath)]) {
    if (!ours.has(file) && (await fs.stat(file)) !== undefined) return file;
  }
  return undefined;
}

/** The binaries to install: all but a shared one that is there and not ours. */
export async function binariesToInstall(fs: ReadonlyFs, record: LedgerRecord | undefined): Promise<string[]> {
  const ours = ownPaths(record);
  const names: string[] = [];
  for (const name of STATIC_BINARIES) {
    const file = binaryPath(name);
    if (!SHARED_BINARIES.includes(name) || ours.has(file) || (await fs.stat(file)) === undefined)
      names.push(name);
  }
  return names;
}

/** The static binaries absent from /usr/local/bin, by name. */
export async function missingBinaries(fs: ReadonlyFs): Promise<string[]> {
  const missing: string[] = [];
  for (const name of STATIC_BINARIES) if ((await fs.stat(binaryPath(name))) === undefined) missing.push(name);
  return missing;
}

/** Records the binaries and data trees that are absent (so undo deletes them), before anything is created. */
export async function recordAbsentPaths(fs: ReadonlyFs, ledger: StepLedger): Promise<void> {
  const absent: string[] = [];
  for (const file of [...STATIC_BINARIES.map(binaryPath), ...DATA_TREES]) {
    if ((await fs.stat(file)) === undefined) absent.push(file);
  }
  await ledger.update((record) => absent.reduce((next, file) => withTree(next, file), record));
}

/** Unpacks the binaries of `tarball` (a path on the host) into a scratch directory and installs `names` of them with mode 0755. */
export async function installBinaries(exec: Exec, tarball: string, names: readonly string[]): Promise<void> {
  const scratch = (await mustRun(exec, ["mktemp", "-d", SCRATCH_TEMPLATE])).stdout.trim();
  try {
    await mustRun(exec, [
      "tar",
      "-xzf",
      tarball,
      "-C",
      scratch,
      ...STATIC_BINARIES.map((name) => `docker/${name}`),
    ]);
    await mustRun(exec, [
      "install",
      "-m",
      "0755",
      "-t",
      STATIC_BIN_DIR,
      ...names.map((name) => `${scratch}/docker/${name}`),
    ]);
  } finally {
    await tryCommand(exec, ["rm", "-rf", "--", scratch]);
  }
}
