import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import { openDeb } from "./deb-package.js";
import { parseImageReference } from "./image-reference.js";
import type { ImageArch, ImageEntry, ImageSpec } from "./image-spec.js";

export const BUSYBOX_PACKAGE = "busybox-static";
/** The applets linked into /bin, enough for a shell, probes and `sleep infinity` pods. */
export const BUSYBOX_APPLETS = ["sh", "true", "echo", "sleep", "cat", "ls"] as const;
const BINARY = "bin/busybox";
const COPYRIGHT = `usr/share/doc/${BUSYBOX_PACKAGE}/copyright`;
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * A runnable busybox image from the busybox-static .deb `deb` (Debian's
 * statically linked busybox, so the image needs no libc): /bin/busybox, a
 * symlink /bin/<applet> → busybox for each of BUSYBOX_APPLETS, a 1777 /tmp,
 * the package's copyright file (busybox is GPL), PATH set and cmd ["sh"]
 * (`docker run <ref> true` runs /bin/true). The .deb is extracted with
 * `dpkg-deb -x` into a temporary folder that is always removed.
 *
 * Throws IMAGE_REFERENCE_INVALID for `reference` (before reading the .deb),
 * and IMAGE_SOURCE_INVALID naming the .deb when it is missing or not a .deb,
 * is not busybox-static (a dynamic busybox would not run in an empty image),
 * is for another architecture than `arch`, or holds no /bin/busybox.
 */
export async function busyboxImage(deb: string, reference: string, arch: ImageArch): Promise<ImageSpec> {
  parseImageReference(reference);
  const debPackage = await openDeb(deb);
  const [name, debArch] = await debPackage.fields("Package", "Architecture");
  const refuse = (why: string): GroundcrewError =>
    new GroundcrewError("IMAGE_SOURCE_INVALID", `${deb}: ${why}`, { context: { deb, reference, arch } });
  if (name !== BUSYBOX_PACKAGE) throw refuse(`it is package ${JSON.stringify(name)}, not ${BUSYBOX_PACKAGE}`);
  if (debArch !== arch) throw refuse(`it is built for ${JSON.stringify(debArch)}, not ${arch}`);
  const dir = await mkdtemp(path.join(tmpdir(), "groundcrew-busybox-"));
  try {
    await debPackage.extract(dir);
    const binary = path.join(dir, ...BINARY.split("/"));
    const info = await stat(binary).catch(() => undefined);
    if (info?.isFile() !== true) throw refuse(`it holds no /${BINARY}`);
    const copyright = await readFile(path.join(dir, ...COPYRIGHT.split("/"))).catch(() => undefined);
    const files: ImageEntry[] = [
      { path: BINARY, content: await readFile(binary), mode: 0o755 },
      ...BUSYBOX_APPLETS.map((applet): ImageEntry => ({ path: `bin/${applet}`, linkTarget: "busybox" })),
      { path: "tmp", mode: 0o1777, directory: true },
    ];
    if (copyright !== undefined) files.push({ path: COPYRIGHT, content: copyright, mode: 0o644 });
    return { reference, arch, files, env: [PATH_ENV], cmd: ["sh"] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
