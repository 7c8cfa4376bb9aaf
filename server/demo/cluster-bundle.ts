import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import { buildBundle } from "../bundle/build.js";
import type { LockArtifact } from "../bundle/lock-schema.js";
import { debFileName } from "../cli/commands/bundle.js";
import { busyboxImage, BUSYBOX_PACKAGE } from "../images/busybox.js";
import { writeImageArchive } from "../images/write-archive.js";

/** Debian packages a cluster bundle takes from a folder of .debs, by the component that installs them. */
export const DOCKER_PACKAGES = ["docker.io", "containerd", "runc", "tini"] as const;
export const REGISTRY_PACKAGE = "docker-registry";

/** The two images a made-here bundle carries, one per archive format, both runnable busybox. */
export const MADE_IMAGES = [
  { reference: "docker.io/library/busybox:stable", format: "docker-save", file: "busybox.tar" },
  { reference: "docker.io/groundcrew/hello:1.0", format: "oci-layout", file: "hello-oci.tar" },
] as const;

export interface ClusterBundleInput {
  /** A folder of Debian packages (file names as Debian names them). */
  readonly debsDir: string;
  /** Where the bundle goes (a .tar). */
  readonly out: string;
  /** Scratch folder for the image archives and the lock. */
  readonly work: string;
  readonly arch: "amd64" | "arm64";
  /** A k3s binary (and its airgap image archives); without it the bundle has no k3s. */
  readonly k3s?: { readonly binary: string; readonly version: string; readonly images?: readonly string[] };
}

export interface ClusterBundle {
  readonly file: string;
  /** What the bundle lacks, for the user: "k3s (no k3s binary here)". */
  readonly skipped: readonly string[];
  readonly images: readonly string[];
}

/**
 * Builds an offline bundle from what this machine can get: Docker and the
 * registry from Debian packages in `debsDir`, two image archives made here
 * from busybox-static (a docker-save one and an OCI layout), and k3s when a
 * binary is given. Parts whose packages are missing are left out and named
 * in `skipped`. Throws what `buildBundle` throws.
 */
export async function buildClusterBundle(input: ClusterBundleInput): Promise<ClusterBundle> {
  const debs = new Map<string, { file: string; version: string }>();
  for (const file of await readdir(input.debsDir).catch((): string[] => [])) {
    const deb = debFileName(file);
    if (deb !== undefined && (deb.arch === input.arch || deb.arch === "all")) {
      debs.set(deb.name, { file: path.join(input.debsDir, file), version: deb.version });
    }
  }
  const artifacts: LockArtifact[] = [];
  const skipped: string[] = [];
  const debArtifact = (name: string, component: "docker" | "registry"): LockArtifact | undefined => {
    const deb = debs.get(name);
    if (deb === undefined) return undefined;
    const arch = debFileName(path.basename(deb.file))?.arch ?? input.arch;
    return {
      path: `debs/${name}.deb`,
      kind: "deb",
      component,
      name,
      version: deb.version,
      arch,
      source: `file:${deb.file}`,
    };
  };
  const docker = DOCKER_PACKAGES.map((name) => debArtifact(name, "docker"));
  if (docker.every((entry) => entry !== undefined)) artifacts.push(...docker);
  else
    skipped.push(
      `Docker (missing packages: ${DOCKER_PACKAGES.filter((_, i) => docker[i] === undefined).join(", ")})`,
    );
  const registry = debArtifact(REGISTRY_PACKAGE, "registry");
  if (registry !== undefined) artifacts.push(registry);
  else skipped.push(`the depot registry (no ${REGISTRY_PACKAGE} package)`);
  const images: string[] = [];
  const busybox = debs.get(BUSYBOX_PACKAGE);
  if (busybox === undefined) skipped.push(`image archives (no ${BUSYBOX_PACKAGE} package to make them from)`);
  else {
    for (const image of MADE_IMAGES) {
      const spec = await busyboxImage(busybox.file, image.reference, input.arch);
      const file = path.join(input.work, image.file);
      await writeImageArchive(spec, image.format, file);
      images.push(image.reference);
      const [name = image.reference, version = "latest"] =
        image.reference.split("/").at(-1)?.split(":") ?? [];
      artifacts.push({
        path: `images/${image.file}`,
        kind: "image-archive",
        format: image.format === "docker-save" ? "docker-archive" : "oci-archive",
        name,
        version,
        arch: input.arch,
        source: `file:${file}`,
      });
    }
  }
  if (input.k3s === undefined) skipped.push("k3s (no k3s binary here: pass a bundle that has one)");
  else {
    artifacts.push({
      path: "k3s/k3s",
      kind: "k3s-binary",
      name: "k3s",
      version: input.k3s.version,
      arch: input.arch,
      source: `file:${input.k3s.binary}`,
    });
    for (const archive of input.k3s.images ?? []) {
      artifacts.push({
        path: `k3s/${path.basename(archive)}`,
        kind: "k3s-images",
        name: "k3s-airgap-images",
        version: input.k3s.version,
        arch: input.arch,
        source: `file:${archive}`,
      });
    }
  }
  const lockFile = path.join(input.work, "cluster.lock.yaml");
  await writeFile(lockFile, stringify({ name: "groundcrew-cluster", arch: [input.arch], artifacts }));
  await buildBundle({ lockFile, out: input.out, force: true });
  return { file: input.out, skipped, images };
}
