import type { KeyObject } from "node:crypto";
import { copyFile, mkdtemp, rename, rm, stat, writeFile } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { ArtifactArch, ArtifactKind } from "../../shared/artifacts.js";
import { GroundcrewError } from "../../shared/errors.js";
import { hashFile } from "./hash-stream.js";
import { collectLocal } from "./local-source.js";
import {
  MANIFEST_FILE,
  SIGNATURE_FILE,
  manifestSchema,
  renderManifest,
  type ArtifactEntry,
  type DebComponent,
  type Manifest,
} from "./manifest.js";
import { writeTarFile, type TarEntry } from "./pack.js";
import { renderSignature, signManifest, type SignatureFile } from "./signature.js";
import type { VerifiedBundle } from "./verified-bundle.js";
import { verifyBundle } from "./verify-bundle.js";

export interface NewArtifact {
  readonly file: string;
  readonly path: string;
  readonly kind: ArtifactKind;
  readonly name: string;
  readonly version: string;
  readonly arch: ArtifactArch;
  readonly component?: DebComponent;
  readonly format?: "docker-archive" | "oci-archive";
}

/**
 * Adds `artifact` to a bundle (directory or tar) after verifying the bundle
 * as it is. A folder must be an OCI image layout; it is added as a tar. A path already in the bundle is refused unless `replace`. The
 * signature no longer covers the new manifest, so it is removed (the result
 * says so). A tar is rewritten beside itself and renamed over the old one;
 * a failure leaves the bundle as it was.
 */
export async function addArtifact(
  bundle: string,
  artifact: NewArtifact,
  options: {
    replace?: boolean;
    /** Runs on the verified bundle before anything is written; throwing leaves the bundle as it was. */
    check?: (verified: VerifiedBundle) => Promise<void>;
  } = {},
): Promise<{ entry: ArtifactEntry; droppedSignature: boolean }> {
  return withVerified(bundle, async (verified, scratch) => {
    await options.check?.(verified);
    // An OCI image layout folder travels as one deterministic tar of its contents.
    const packed = (await stat(artifact.file)).isDirectory()
      ? path.join(scratch, "oci-layout.tar")
      : undefined;
    if (packed !== undefined) {
      await collectLocal({ source: artifact.file, what: artifact.file, dest: packed });
    }
    const file = packed ?? artifact.file;
    const hashed = await hashFile(file);
    const entry: ArtifactEntry = {
      path: artifact.path,
      kind: artifact.kind,
      name: artifact.name,
      version: artifact.version,
      arch: artifact.arch,
      size: hashed.size,
      sha256: hashed.sha256,
      ...(artifact.component === undefined ? {} : { component: artifact.component }),
      ...(artifact.format === undefined ? {} : { format: artifact.format }),
    };
    const existing = verified.manifest.artifacts.some((item) => item.path === entry.path);
    if (existing && options.replace !== true) {
      throw new GroundcrewError(
        "BUNDLE_OUTPUT_EXISTS",
        `${bundle}: ${entry.path} is already in the bundle (pass --replace to replace it)`,
        { context: { bundle, path: entry.path } },
      );
    }
    const arch = entry.arch === "all" || verified.manifest.arch.includes(entry.arch) ? [] : [entry.arch];
    const manifest = validManifest(
      {
        ...verified.manifest,
        arch: [...verified.manifest.arch, ...arch],
        artifacts: [...verified.manifest.artifacts.filter((item) => item.path !== entry.path), entry],
      },
      bundle,
    );
    await rewrite(verified, manifest, undefined, new Map([[entry.path, file]]));
    return { entry, droppedSignature: verified.signature.state !== "absent" };
  });
}

/** Verifies the bundle, then writes manifest.sig signed with `privateKey` (replacing any signature). */
export async function signBundle(bundle: string, privateKey: KeyObject): Promise<SignatureFile> {
  return withVerified(bundle, async (verified) => {
    const signature = signManifest(verified.rawManifest, privateKey);
    await rewrite(verified, undefined, signature, new Map());
    return signature;
  });
}

async function withVerified<T>(
  bundle: string,
  edit: (verified: VerifiedBundle, scratch: string) => Promise<T>,
): Promise<T> {
  const scratch = await mkdtemp(path.join(path.dirname(path.resolve(bundle)), ".groundcrew-edit-"));
  try {
    return await edit(await verifyBundle(bundle, { keepIn: path.join(scratch, "cas") }), scratch);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function validManifest(manifest: Manifest, bundle: string): Manifest {
  const parsed = manifestSchema.safeParse(manifest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GroundcrewError(
      "BUNDLE_INVALID",
      `${bundle}: the new manifest would not be valid: ${issue?.message ?? "?"}`,
      {
        context: { bundle },
      },
    );
  }
  return parsed.data;
}

/**
 * Writes the bundle with `manifest` (undefined: the current one, byte for
 * byte as canonical JSON) and `signature` (undefined: none), taking new
 * artifacts from `added` (bundle path → local file).
 */
async function rewrite(
  verified: VerifiedBundle,
  manifest: Manifest | undefined,
  signature: SignatureFile | undefined,
  added: ReadonlyMap<string, string>,
): Promise<void> {
  const manifestText = renderManifest(manifest ?? verified.manifest);
  const artifacts = (manifest ?? verified.manifest).artifacts;
  if (verified.form === "directory") {
    const dir = verified.location;
    for (const [bundlePath, file] of added) {
      const target = path.join(dir, bundlePath);
      await mkdir(path.dirname(target), { recursive: true });
      await copyFile(file, `${target}.partial`);
      await rename(`${target}.partial`, target);
    }
    await replaceFile(path.join(dir, MANIFEST_FILE), manifestText);
    if (signature === undefined) await rm(path.join(dir, SIGNATURE_FILE), { force: true });
    else await replaceFile(path.join(dir, SIGNATURE_FILE), renderSignature(signature));
    return;
  }
  const files = new Map(verified.artifacts.map((artifact) => [artifact.entry.path, artifact.file]));
  const entries: TarEntry[] = [{ kind: "bytes", path: MANIFEST_FILE, bytes: Buffer.from(manifestText) }];
  if (signature !== undefined) {
    entries.push({ kind: "bytes", path: SIGNATURE_FILE, bytes: Buffer.from(renderSignature(signature)) });
  }
  for (const entry of artifacts) {
    const file = added.get(entry.path) ?? files.get(entry.path);
    if (file === undefined) throw new Error(`no local copy of ${entry.path}`);
    entries.push({ kind: "file", path: entry.path, file, size: entry.size, sha256: entry.sha256 });
  }
  await writeTarFile(entries, verified.location);
}

async function replaceFile(file: string, text: string): Promise<void> {
  await writeFile(`${file}.partial`, text, { mode: 0o644 });
  await rename(`${file}.partial`, file);
}
