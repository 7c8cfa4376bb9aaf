import path from "node:path";
import type { ReadonlyFs } from "../../shared/host-io.js";
import type { DebFile } from "./deb-install.js";

const HEADERS = /^linux-headers-(.+)$/;

/** Where the build headers of kernel `release` live: DKMS and nvidia-installer use the first. */
export function headerDirs(release: string): [string, string] {
  return [`/lib/modules/${release}/build`, `/usr/src/linux-headers-${release}`];
}

/** The package that holds kernel `release`'s headers, as Debian and Ubuntu name it. */
export function headersPackage(release: string): string {
  return `linux-headers-${release}`;
}

/**
 * Whether kernel `release`'s headers are on the host: /usr/src/linux-headers-<r>,
 * or /lib/modules/<r>/build as a directory or a link whose target exists (a
 * dangling link, left by removed headers, does not count). Read-only.
 */
export async function headersPresent(fs: ReadonlyFs, release: string): Promise<boolean> {
  const [build, source] = headerDirs(release);
  if ((await fs.stat(source)) !== undefined) return true;
  const stats = await fs.stat(build);
  if (stats === undefined) return false;
  if (!stats.isSymbolicLink) return true;
  const target = path.posix.resolve(path.posix.dirname(build), await fs.readLink(build));
  return (await fs.stat(target)) !== undefined;
}

/**
 * Whether `name` is a headers package of kernel `release`: its own
 * (linux-headers-6.1.0-18-amd64) or the shared part it depends on
 * (Debian's linux-headers-6.1.0-18-common, Ubuntu's linux-headers-6.8.0-45
 * for 6.8.0-45-generic). Metapackages (linux-headers-amd64) are no kernel's.
 */
function headersOf(name: string, release: string): boolean {
  const version = HEADERS.exec(name)?.[1]?.replace(/-common(-rt)?$/, "");
  return version !== undefined && (release === version || release.startsWith(`${version}-`));
}

/**
 * Of the bundle's `nvidia` packages (headers, dkms, gcc, make...), those the
 * driver build on kernel `release` needs: every package except headers of
 * another kernel (the bundle may carry several kernels' headers).
 */
export function debsForKernel(debs: readonly DebFile[], release: string): DebFile[] {
  return debs.filter((deb) => !HEADERS.test(deb.name) || headersOf(deb.name, release));
}

/** The kernels whose own headers package is among `debs` ("6.1.0-18-amd64"; no metapackages), for messages. */
export function headerKernels(debs: readonly DebFile[]): string[] {
  return debs
    .map((deb) => HEADERS.exec(deb.name)?.[1])
    .filter(
      (version): version is string =>
        version !== undefined && /^\d/.test(version) && !/-common(-rt)?$/.test(version),
    );
}
