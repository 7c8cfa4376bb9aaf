import type { Exec } from "../../shared/host-io.js";
import { casPath } from "../../shared/artifacts.js";
import { describeResult } from "../runner/host-calls.js";
import { StepError } from "../runner/step-error.js";

export interface DebFile {
  readonly file: string;
  readonly name: string;
  readonly version: string;
}

/** Package name and version of each .deb in the artifact store (`dpkg-deb --field`). Throws HOST_COMMAND_FAILED. */
export async function readDebs(exec: Exec, sha256s: readonly string[], casDir: string): Promise<DebFile[]> {
  const debs: DebFile[] = [];
  for (const sha256 of sha256s) {
    const file = casPath(sha256, casDir);
    const argv = ["dpkg-deb", "--field", file, "Package", "Version"] as const;
    const result = await exec.run(argv);
    const name = /^Package: (\S+)$/m.exec(result.stdout)?.[1];
    const version = /^Version: (\S+)$/m.exec(result.stdout)?.[1];
    if (result.code !== 0 || name === undefined || version === undefined) {
      throw new StepError(
        "HOST_COMMAND_FAILED",
        `${file} is not a readable .deb: ${describeResult(argv, result)}`,
        {
          context: { file },
        },
      );
    }
    debs.push({ file, name, version });
  }
  return debs;
}

/** Packages dpkg reports as installed ("ii"), by name → version. Unknown names are simply absent. */
export async function installedPackages(exec: Exec, names: readonly string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const result = await exec.run([
    "dpkg-query",
    "-W",
    "-f=${Package} ${db:Status-Abbrev} ${Version}\\n",
    ...names,
  ]);
  const installed = new Map<string, string>();
  for (const line of result.stdout.split("\n")) {
    const match = /^(\S+) ii\s+(\S+)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) installed.set(match[1], match[2]);
  }
  return installed;
}
