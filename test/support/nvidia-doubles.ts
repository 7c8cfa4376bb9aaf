import { execFile } from "node:child_process";
import { chmod, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { buildBundle } from "../../server/bundle/build.js";
import type { LockArtifact } from "../../server/bundle/lock-schema.js";
import { busyboxImage } from "../../server/images/busybox.js";
import { writeImageArchive } from "../../server/images/write-archive.js";
import { K3S_DOUBLE_VERSION } from "./cluster-fixture.js";
import { ensureK3sDouble } from "./k3s-double.js";
import { FIXTURE_DEBS } from "./lab-fleet.js";

const run = promisify(execFile);
const SOURCES = path.resolve("test", "doubles", "nvidia");

export const NVIDIA_DRIVER_VERSION = "550.54.15";
export const NVIDIA_TOOLKIT_VERSION = "1.17.8-1";
/** The device plugin image gpuTestBundle holds (unless left out). */
export const DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.0";
export const RUNFILE_NAME = `NVIDIA-Linux-x86_64-${NVIDIA_DRIVER_VERSION}.run`;
/**
 * While this file exists on a host, the runfile double holds its install
 * mid-build (after the headers check, before nvidia-smi exists) and logs
 * RUNFILE_HOLDING to /var/log/nvidia-installer.log. It is under /run, a
 * tmpfs a boot empties: a reboot releases the hold.
 */
export const RUNFILE_HOLD_MARKER = "/run/nvidia-double/hold-install";
/** The installer log line that says the runfile double is holding. */
export const RUNFILE_HOLDING = `-> holding the install while ${RUNFILE_HOLD_MARKER} exists`;

/** A .deb built here, as a lock names it. */
export interface BuiltDeb {
  readonly file: string;
  readonly name: string;
  readonly version: string;
}

interface DebFileSpec {
  /** Absolute path on the installed host. */
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

interface DebSpec {
  readonly name: string;
  readonly version: string;
  readonly depends?: string;
  readonly description: string;
  readonly files: readonly DebFileSpec[];
  /** Files under /etc that dpkg keeps as conffiles (purge removes them). */
  readonly conffiles?: readonly string[];
}

async function template(file: string, version: string): Promise<string> {
  return (await readFile(path.join(SOURCES, file), "utf8")).replaceAll("@VERSION@", version);
}

/**
 * The runfile double (test/doubles/nvidia/runfile.sh) as
 * `NVIDIA-Linux-x86_64-<version>.run` in `dir`, holding while
 * RUNFILE_HOLD_MARKER exists.
 */
export async function buildNvidiaRunfile(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, RUNFILE_NAME);
  const script = (await template("runfile.sh", NVIDIA_DRIVER_VERSION)).replaceAll(
    "@HOLD_MARKER@",
    RUNFILE_HOLD_MARKER,
  );
  await writeFile(file, script, { mode: 0o755 });
  return file;
}

/** Builds one binary package with `dpkg-deb --build` (root-owned files) into `dir`. */
async function buildDeb(dir: string, spec: DebSpec): Promise<BuiltDeb> {
  const root = path.join(dir, `${spec.name}.root`);
  await rm(root, { recursive: true, force: true });
  await mkdir(path.join(root, "DEBIAN"), { recursive: true });
  const control = [
    `Package: ${spec.name}`,
    `Version: ${spec.version}`,
    "Architecture: amd64",
    "Maintainer: groundcrew tests <tests@groundcrew.invalid>",
    ...(spec.depends === undefined ? [] : [`Depends: ${spec.depends}`]),
    "Section: utils",
    "Priority: optional",
    `Description: ${spec.description}`,
    " Test double built by test/support/nvidia-doubles.ts; never shipped.",
    "",
  ].join("\n");
  await writeFile(path.join(root, "DEBIAN", "control"), control);
  if (spec.conffiles !== undefined && spec.conffiles.length > 0) {
    await writeFile(path.join(root, "DEBIAN", "conffiles"), `${spec.conffiles.join("\n")}\n`);
  }
  for (const file of spec.files) {
    const target = path.join(root, file.path);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, file.content);
    await chmod(target, file.mode);
  }
  const out = path.join(dir, `${spec.name}_${spec.version}_amd64.deb`);
  await run("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", root, out]);
  await rm(root, { recursive: true, force: true });
  return { file: out, name: spec.name, version: spec.version };
}

/**
 * The four NVIDIA container toolkit packages, one version, with upstream's
 * dependencies: nvidia-container-toolkit → -base (=) and
 * libnvidia-container-tools → libnvidia-container1. They install
 * /usr/bin/nvidia-ctk, nvidia-container-runtime (what k3s looks for),
 * nvidia-container-runtime-hook and nvidia-container-cli (doubles from
 * test/doubles/nvidia/toolkit/) and the runtime's conffile under /etc.
 */
export async function buildToolkitDebs(dir: string): Promise<BuiltDeb[]> {
  await mkdir(dir, { recursive: true });
  const version = NVIDIA_TOOLKIT_VERSION;
  const upstream = version.replace(/-\d+$/, "");
  const program = async (name: string, file: string): Promise<DebFileSpec> => ({
    path: `/usr/bin/${name}`,
    content: await template(`toolkit/${file}`, upstream),
    mode: 0o755,
  });
  return [
    await buildDeb(dir, {
      name: "libnvidia-container1",
      version,
      depends: "libc6 (>= 2.17)",
      description: "NVIDIA container runtime library (test double)",
      files: [
        {
          path: "/usr/lib/x86_64-linux-gnu/libnvidia-container.so.1.test-double",
          content: "not a library: test double\n",
          mode: 0o644,
        },
      ],
    }),
    await buildDeb(dir, {
      name: "libnvidia-container-tools",
      version,
      depends: `libnvidia-container1 (>= ${version}), libc6 (>= 2.17)`,
      description: "NVIDIA container runtime library, command-line tools (test double)",
      files: [await program("nvidia-container-cli", "nvidia-container-cli.sh")],
    }),
    await buildDeb(dir, {
      name: "nvidia-container-toolkit-base",
      version,
      description: "NVIDIA Container Toolkit Base (test double)",
      files: [
        await program("nvidia-ctk", "nvidia-ctk.sh"),
        await program("nvidia-container-runtime", "nvidia-container-runtime.sh"),
        {
          path: "/etc/nvidia-container-runtime/config.toml",
          content:
            '#accept-nvidia-visible-devices-as-volume-mounts = false\n[nvidia-container-cli]\nldconfig = "@/sbin/ldconfig"\n',
          mode: 0o644,
        },
      ],
      conffiles: ["/etc/nvidia-container-runtime/config.toml"],
    }),
    await buildDeb(dir, {
      name: "nvidia-container-toolkit",
      version,
      depends: `nvidia-container-toolkit-base (= ${version}), libnvidia-container-tools (>= ${version}), libnvidia-container-tools (<< 2.0.0)`,
      description: "NVIDIA Container toolkit (test double)",
      files: [
        {
          path: "/usr/bin/nvidia-container-runtime-hook",
          content: "#!/bin/sh\necho 'nvidia-container-runtime-hook test double' >&2\nexit 1\n",
          mode: 0o755,
        },
      ],
    }),
  ];
}

/**
 * A `linux-headers-<release>` package whose only content is
 * /usr/src/linux-headers-<release> (a Makefile and utsrelease.h): what
 * gpu.driver looks for and what the runfile double needs for --dkms.
 */
export async function buildHeadersDeb(dir: string, release: string): Promise<BuiltDeb> {
  await mkdir(dir, { recursive: true });
  const base = `/usr/src/linux-headers-${release}`;
  return buildDeb(dir, {
    name: `linux-headers-${release}`,
    version: "1.0-1",
    description: `Header files for Linux ${release} (test double)`,
    files: [
      { path: `${base}/Makefile`, content: `# kernel ${release} (test double)\n`, mode: 0o644 },
      {
        path: `${base}/include/generated/utsrelease.h`,
        content: `#define UTS_RELEASE "${release}"\n`,
        mode: 0o644,
      },
    ],
  });
}

export interface GpuBundle {
  readonly file: string;
  readonly toolkit: readonly BuiltDeb[];
  readonly headers: BuiltDeb;
}

/**
 * A bundle for GPU lab tests: the k3s double with one airgap archive, the
 * depot registry (Debian's docker-registry), the runfile double (kind
 * nvidia-driver), the toolkit doubles (kind nvidia-toolkit) and the
 * headers of kernel `release` (deb component nvidia) and an image archive of
 * DEVICE_PLUGIN_IMAGE. With `toolkit: false` the bundle lacks the toolkit (to
 * deliver it late), with `devicePlugin: false` the device plugin image.
 */
export async function gpuTestBundle(
  work: string,
  release: string,
  options: { toolkit?: boolean; devicePlugin?: boolean } = {},
): Promise<GpuBundle> {
  await mkdir(work, { recursive: true });
  const fixtures = await readdir(FIXTURE_DEBS);
  const fixture = (name: string): string => {
    const file = fixtures.find((entry) => entry.startsWith(`${name}_`));
    if (file === undefined) throw new Error(`no ${name} .deb in ${FIXTURE_DEBS}: run scripts/setup`);
    return path.join(FIXTURE_DEBS, file);
  };
  const airgap = path.join(work, "k3s-airgap-images-amd64.tar");
  await writeImageArchive(
    await busyboxImage(fixture("busybox-static"), "docker.io/rancher/mirrored-pause:3.6", "amd64"),
    "docker-save",
    airgap,
  );
  // NVIDIA's device plugin image, made from busybox: the k3s double never runs it, it reads the DaemonSet.
  const devicePlugin = path.join(work, "k8s-device-plugin.tar");
  if (options.devicePlugin !== false) {
    await writeImageArchive(
      await busyboxImage(fixture("busybox-static"), DEVICE_PLUGIN_IMAGE, "amd64"),
      "docker-save",
      devicePlugin,
    );
  }
  const runfile = await buildNvidiaRunfile(path.join(work, "nvidia"));
  const toolkit = await buildToolkitDebs(path.join(work, "nvidia"));
  const headers = await buildHeadersDeb(path.join(work, "nvidia"), release);
  const registry = fixture("docker-registry");
  const registryVersion = decodeURIComponent(path.basename(registry).split("_")[1] ?? "0");
  const artifacts: LockArtifact[] = [
    {
      path: "k3s/k3s",
      kind: "k3s-binary",
      name: "k3s",
      version: K3S_DOUBLE_VERSION,
      arch: "amd64",
      source: `file:${await ensureK3sDouble()}`,
    },
    {
      path: "k3s/k3s-airgap-images-amd64.tar",
      kind: "k3s-images",
      name: "k3s-airgap-images",
      version: K3S_DOUBLE_VERSION,
      arch: "amd64",
      source: `file:${airgap}`,
    },
    {
      path: "debs/docker-registry.deb",
      kind: "deb",
      component: "registry",
      name: "docker-registry",
      version: registryVersion,
      arch: "amd64",
      source: `file:${registry}`,
    },
    {
      path: `nvidia/${RUNFILE_NAME}`,
      kind: "nvidia-driver",
      name: "nvidia-driver",
      version: NVIDIA_DRIVER_VERSION,
      arch: "amd64",
      source: `file:${runfile}`,
    },
    ...(options.toolkit === false ? [] : toolkit).map((deb): LockArtifact => ({
      path: `nvidia/toolkit/${deb.name}.deb`,
      kind: "nvidia-toolkit",
      name: deb.name,
      version: deb.version,
      arch: "amd64",
      source: `file:${deb.file}`,
    })),
    ...(options.devicePlugin === false
      ? []
      : [
          {
            path: "images/k8s-device-plugin.tar",
            kind: "image-archive",
            format: "docker-archive",
            name: "k8s-device-plugin",
            version: DEVICE_PLUGIN_IMAGE.split(":").at(-1) ?? "",
            arch: "amd64",
            source: `file:${devicePlugin}`,
          } satisfies LockArtifact,
        ]),
    {
      path: `nvidia/debs/${headers.name}.deb`,
      kind: "deb",
      component: "nvidia",
      name: headers.name,
      version: headers.version,
      arch: "amd64",
      source: `file:${headers.file}`,
    },
  ];
  const lockFile = path.join(work, "gpu.lock.yaml");
  await writeFile(lockFile, stringify({ name: "groundcrew-gpu", arch: ["amd64"], artifacts }));
  const out = path.join(work, "gpu.tar");
  await buildBundle({ lockFile, out, force: true });
  return { file: out, toolkit, headers };
}
