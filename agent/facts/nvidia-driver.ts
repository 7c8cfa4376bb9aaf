import type { Exec, ReadonlyFs } from "../../shared/host-io.js";

/** The NVIDIA kernel driver's own report; present only while the `nvidia` module is loaded. */
export const NVIDIA_PROC_VERSION = "/proc/driver/nvidia/version";
/** What the runfile installs to remove itself: its presence says a runfile installed the driver. */
export const NVIDIA_UNINSTALL = "/usr/bin/nvidia-uninstall";
export const NVIDIA_SMI = "/usr/bin/nvidia-smi";
export const NVIDIA_SMI_QUERY = [
  "nvidia-smi",
  "--query-gpu=name,driver_version",
  "--format=csv,noheader",
] as const;

export interface SmiGpu {
  readonly name: string;
  readonly driverVersion: string;
}

/** What `nvidia-smi` says: the GPUs it lists, or why it does not work. */
export type SmiReport =
  { readonly ok: true; readonly gpus: readonly SmiGpu[] } | { readonly ok: false; readonly reason: string };

/**
 * Runs `nvidia-smi --query-gpu=name,driver_version --format=csv,noheader`.
 * ok only with exit 0 and at least one GPU line ("NVIDIA H200, 550.54.15");
 * otherwise the reason names the exit code and the tool's own last words.
 * A missing program (exec rejects) counts as "not found".
 */
export async function queryNvidiaSmi(exec: Exec): Promise<SmiReport> {
  const result = await exec.run(NVIDIA_SMI_QUERY).catch((error: unknown) => ({
    code: 127,
    stdout: "",
    stderr: error instanceof Error ? error.message : String(error),
  }));
  const gpus = result.stdout
    .split("\n")
    .map((line) => /^\s*(.+?)\s*,\s*(\S+)\s*$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => ({ name: match[1] ?? "", driverVersion: match[2] ?? "" }));
  if (result.code === 0 && gpus.length > 0) return { ok: true, gpus };
  const said = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-2).join(" | ").slice(0, 300);
  return {
    ok: false,
    reason: `\`${NVIDIA_SMI_QUERY.join(" ")}\` exited ${result.code}${said === "" ? " listing no GPU" : `: ${said}`}`,
  };
}

/** "NVIDIA H200 (550.54.15), NVIDIA H200 (550.54.15)": the GPUs nvidia-smi lists, for humans. */
export function describeGpus(gpus: readonly SmiGpu[]): string {
  return gpus.map((gpu) => `${gpu.name} (${gpu.driverVersion})`).join(", ");
}

/**
 * The version of the loaded nvidia kernel module, from /proc/driver/nvidia/version
 * ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5 ..."):
 * undefined when the module is not loaded; "unknown" when the line has another shape.
 */
export async function loadedModuleVersion(fs: ReadonlyFs): Promise<string | undefined> {
  const text = await fs.readTextIfExists(NVIDIA_PROC_VERSION);
  if (text === undefined) return undefined;
  return /Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)/.exec(text)?.[1] ?? "unknown";
}

/** Whether `module` is loaded: a line of /proc/modules starts with its name (what `lsmod` reads). */
export async function moduleLoaded(fs: ReadonlyFs, module: string): Promise<boolean> {
  const modules = (await fs.readTextIfExists("/proc/modules")) ?? "";
  return modules.split("\n").some((line) => line.split(" ")[0] === module);
}

/** The running kernel's release, as `uname -r` prints it (read from /proc/sys/kernel/osrelease). */
export async function kernelRelease(fs: ReadonlyFs): Promise<string> {
  return (await fs.readText("/proc/sys/kernel/osrelease")).trim();
}

/** Who installed the NVIDIA driver that is on the host (G2), or none when none is. */
export type DriverOwner =
  | { readonly by: "runfile"; readonly evidence: string }
  | { readonly by: "package"; readonly evidence: string; readonly packageName: string }
  | { readonly by: "unknown"; readonly evidence: string }
  | { readonly by: "none" };

/**
 * G2: a runfile install leaves /usr/bin/nvidia-uninstall; a packaged one
 * owns /usr/bin/nvidia-smi (`dpkg -S`); an nvidia-smi no package owns is of
 * an unknown installer. No nvidia-smi: no driver installed (a bare module
 * without it is not a usable driver either). Read-only.
 */
export async function driverOwner(exec: Exec, fs: ReadonlyFs): Promise<DriverOwner> {
  if ((await fs.stat(NVIDIA_UNINSTALL)) !== undefined) return { by: "runfile", evidence: NVIDIA_UNINSTALL };
  if ((await fs.stat(NVIDIA_SMI)) === undefined) return { by: "none" };
  const owner = await exec.run(["dpkg", "-S", NVIDIA_SMI]).catch(() => undefined);
  const packageName = owner?.code === 0 ? /^([^:\s]+)(:[a-z0-9]+)?: /.exec(owner.stdout)?.[1] : undefined;
  if (packageName !== undefined) return { by: "package", evidence: NVIDIA_SMI, packageName };
  return { by: "unknown", evidence: `${NVIDIA_SMI}, which no package owns` };
}

/** "a runfile (/usr/bin/nvidia-uninstall)", "package nvidia-utils-535-server": who, for messages. */
export function describeOwner(owner: Exclude<DriverOwner, { by: "none" }>): string {
  switch (owner.by) {
    case "runfile":
      return `a runfile (${owner.evidence})`;
    case "package":
      return `package ${owner.packageName}`;
    case "unknown":
      return `an unknown installer (${owner.evidence})`;
  }
}
