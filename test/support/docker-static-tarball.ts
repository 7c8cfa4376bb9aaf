import { execFile } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { STATIC_BINARIES } from "../../agent/steps/docker-static-units.js";
import type { LockArtifact } from "../../server/bundle/lock-schema.js";
import { debFileName } from "../../server/cli/commands/bundle.js";
import { busyboxImage, BUSYBOX_PACKAGE } from "../../server/images/busybox.js";
import { writeImageArchive } from "../../server/images/write-archive.js";
import { FIXTURE_DEBS } from "./lab-fleet.js";

const run = promisify(execFile);

/**
 * Where each member of Docker's static tarball is found in Debian's
 * packages (docker.io, containerd, runc, tini): download.docker.com cannot
 * be reached here, so the tarball is made with the release's exact layout
 * from the real binaries.
 */
const MEMBER_SOURCES: Readonly<Record<(typeof STATIC_BINARIES)[number], string>> = {
  containerd: "usr/bin/containerd",
  "containerd-shim-runc-v2": "usr/bin/containerd-shim-runc-v2",
  ctr: "usr/bin/ctr",
  docker: "usr/bin/docker",
  "docker-init": "usr/bin/tini-static",
  "docker-proxy": "usr/sbin/docker-proxy",
  dockerd: "usr/sbin/dockerd",
  runc: "usr/sbin/runc",
};
const SOURCE_PACKAGES = ["docker.io", "containerd", "runc", "tini"] as const;

/** The fixture .debs by package name (file path and version). Throws when one is missing. */
async function fixtureDebs(
  names: readonly string[],
): Promise<Map<string, { file: string; version: string }>> {
  const found = new Map<string, { file: string; version: string }>();
  for (const file of await readdir(FIXTURE_DEBS)) {
    const deb = debFileName(file);
    if (deb !== undefined && names.includes(deb.name))
      found.set(deb.name, { file: path.join(FIXTURE_DEBS, file), version: deb.version });
  }
  const missing = names.filter((name) => !found.has(name));
  if (missing.length > 0)
    throw new Error(`missing ${missing.join(", ")} .deb in ${FIXTURE_DEBS}: run scripts/setup`);
  return found;
}

/**
 * Writes `<work>/docker-<version>.tgz` with the static release's layout
 * (`docker/<binary>`, mode 0755, owned by root) from the fixture packages'
 * binaries. Resolves its path and the docker.io version it carries.
 */
export async function dockerStaticTarball(work: string): Promise<{ file: string; version: string }> {
  const debs = await fixtureDebs(SOURCE_PACKAGES);
  const root = await mkdtemp(path.join(work, "debs-"));
  const staging = await mkdtemp(path.join(work, "static-"));
  try {
    for (const deb of debs.values()) await run("dpkg-deb", ["-x", deb.file, root]);
    await mkdir(path.join(staging, "docker"));
    for (const name of STATIC_BINARIES) {
      const target = path.join(staging, "docker", name);
      await copyFile(path.join(root, MEMBER_SOURCES[name]), target);
      await chmod(target, 0o755);
    }
    const version = debs.get("docker.io")?.version.replace(/\+.*$/, "") ?? "0";
    const file = path.join(work, `docker-${version}.tgz`);
    await run("tar", ["-czf", file, "--owner=0", "--group=0", "--numeric-owner", "-C", staging, "docker"]);
    return { file, version };
  } finally {
    await rm(root, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * A bundle with Docker only as a static tarball (no Docker .debs), the
 * registry from Debian's docker-registry package and one busybox image
 * archive (docker.io/library/busybox:stable), so that docker.static can
 * verify through the depot. Resolves the lock file; build it with
 * `groundcrew bundle build --lock`.
 */
export async function dockerStaticLock(work: string): Promise<string> {
  await mkdir(work, { recursive: true });
  const tarball = await dockerStaticTarball(work);
  const debs = await fixtureDebs(["docker-registry", BUSYBOX_PACKAGE]);
  const registry = debs.get("docker-registry");
  const busybox = debs.get(BUSYBOX_PACKAGE);
  if (registry === undefined || busybox === undefined)
    throw new Error("unreachable: fixtureDebs checked them");
  const archive = path.join(work, "busybox.tar");
  await writeImageArchive(
    await busyboxImage(busybox.file, "docker.io/library/busybox:stable", "amd64"),
    "docker-save",
    archive,
  );
  const artifacts: LockArtifact[] = [
    {
      path: `docker/amd64/${path.basename(tarball.file)}`,
      kind: "docker-static",
      name: "docker",
      version: tarball.version,
      arch: "amd64",
      source: `file:${tarball.file}`,
    },
    {
      path: "debs/docker-registry.deb",
      kind: "deb",
      component: "registry",
      name: "docker-registry",
      version: registry.version,
      arch: "amd64",
      source: `file:${registry.file}`,
    },
    {
      path: "images/busybox.tar",
      kind: "image-archive",
      format: "docker-archive",
      name: "busybox",
      version: "stable",
      arch: "amd64",
      source: `file:${archive}`,
    },
  ];
  const lock = path.join(work, "docker-static.lock.yaml");
  await writeFile(lock, stringify({ name: "docker-static-lab", arch: ["amd64"], artifacts }));
  return lock;
}
