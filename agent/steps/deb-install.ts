import type { Exec } from "../../shared/host-io.js";
import type { StepLedger } from "../ledger/ledger.js";
import { withPackages } from "../ledger/record.js";
import { mustRun } from "../runner/host-calls.js";
import { installedPackages, readDebs, type DebFile } from "./docker-packages.js";

export type { DebFile } from "./docker-packages.js";

/**
 * The .debs behind `sha256s` in the host's artifact store (name and version
 * from `dpkg-deb --field`), and those dpkg does not report installed. Read-only.
 * Throws HOST_COMMAND_FAILED naming a file that is not a readable .deb.
 */
export async function bundleDebs(
  exec: Exec,
  sha256s: readonly string[],
  casDir: string,
): Promise<{ debs: DebFile[]; missing: DebFile[] }> {
  const debs = await readDebs(exec, sha256s, casDir);
  const installed = await installedPackages(
    exec,
    debs.map((deb) => deb.name),
  );
  return { debs, missing: debs.filter((deb) => !installed.has(deb.name)) };
}

/**
 * Records `missing` in the step's ledger (undo purges exactly them), then
 * installs them with one `dpkg --install` so dpkg orders them by dependency
 * (a missing dependency fails with dpkg's own message). Packages installed
 * before are never passed here, so never recorded. Resolves the change for
 * humans, or undefined when there was nothing to install.
 */
export async function installRecordedDebs(
  exec: Exec,
  ledger: StepLedger,
  missing: readonly DebFile[],
): Promise<string | undefined> {
  if (missing.length === 0) return undefined;
  await ledger.update((record) =>
    withPackages(
      record,
      missing.map((deb) => deb.name),
    ),
  );
  await mustRun(exec, ["dpkg", "--install", "--force-confold", ...missing.map((deb) => deb.file)], {
    env: { DEBIAN_FRONTEND: "noninteractive" },
  });
  return `installed ${missing.map((deb) => `${deb.name} ${deb.version}`).join(", ")}`;
}
