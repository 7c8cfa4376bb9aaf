import { GroundcrewError } from "../../shared/errors.js";
import type { HostFacts } from "../../shared/facts.js";
import type { Exec, Fs } from "../../shared/host-io.js";
import { readRequiredText } from "./read.js";

/**
 * `uname -m` to the architecture names artifacts use (the k3s installer's
 * mapping): x86_64 → amd64, aarch64 → arm64, armv7l → arm; anything else is
 * returned unchanged.
 */
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

/** Kernel release and build version from /proc (trimmed). FACTS_UNREADABLE when unreadable. */
export async function readKernel(fs: Fs): Promise<HostFacts["kernel"]> {
  const [release, version] = await Promise.all([
    readRequiredText(fs, "/proc/sys/kernel/osrelease"),
    readRequiredText(fs, "/proc/sys/kernel/version"),
  ]);
  return { release: release.trim(), version: version.trim() };
}

/** The machine hardware name from `uname -m`. FACTS_UNREADABLE on a non-zero exit or empty output. */
export async function readMachine(exec: Exec): Promise<string> {
  const result = await exec.run(["uname", "-m"]);
  const machine = result.stdout.trim();
  if (result.code !== 0 || machine === "") {
    throw new GroundcrewError(
      "FACTS_UNREADABLE",
      `\`uname -m\` failed (exit ${result.code}): ${result.stderr.trim()}`,
      { context: { command: "uname -m", exitCode: result.code } },
    );
  }
  return machine;
}
