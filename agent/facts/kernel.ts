import { GroundcrewError } from "../../shared/errors.js";
import type { HostFacts } from "../../shared/facts.js";
import type { Exec, Fs } from "../../shared/host-io.js";

/** `uname -m` to the architecture names artifacts use (the k3s installer's mapping). */
export function artifactArch(machine: string): string {
  switch (machine) {
    case "x86_64":
    case "amd64":
      return "amd64";
    case "aarch64":
    case "arm64":
      return "arm64";
    case "armv7l":
      return "arm";
    default:
      return machine;
  }
}

export async function readKernel(fs: Fs): Promise<HostFacts["kernel"]> {
  const [release, version] = await Promise.all([
    fs.readText("/proc/sys/kernel/osrelease"),
    fs.readText("/proc/sys/kernel/version"),
  ]);
  return { release: release.trim(), version: version.trim() };
}

/** Throws GroundcrewError FACTS_UNREADABLE when `uname -m` fails. */
export async function readMachine(exec: Exec): Promise<string> {
  const result = await exec.run(["uname", "-m"]);
  const machine = result.stdout.trim();
  if (result.code !== 0 || machine === "") {
    throw new GroundcrewError("FACTS_UNREADABLE", `uname -m failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return machine;
}
