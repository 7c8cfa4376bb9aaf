import { stat } from "node:fs/promises";
import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import { checkArtifacts } from "./artifact-check.js";
import { LocalCas } from "./local-cas.js";
import { parseManifest, type Manifest } from "./manifest.js";
import { hashDirectoryArtifacts, listDirectoryBundle } from "./read-directory.js";
import { readTarBundle } from "./read-tar.js";
import { parseSignature, verifyManifestSignature } from "./signature.js";
import type { BundleArtifact, SignatureState, VerifiedBundle, VerifyOptions } from "./verified-bundle.js";

/**
 * Reads a bundle (a directory, or a .tar / .tar.gz / .tar.zst file), checks
 * its manifest, the signature (against `trustedKeys` when given; an unsigned
 * bundle is then refused) and every artifact's size and sha256. Reads only;
 * with `keepIn`, a tar bundle's verified artifacts are kept there. Throws a
 * GroundcrewError BUNDLE_* naming the bundle and every bad artifact; nothing
 * is kept from a bundle that fails.
 */
export async function verifyBundle(location: string, options: VerifyOptions = {}): Promise<VerifiedBundle> {
  const info = await stat(location).catch((error: unknown) => {
    throw new GroundcrewError("BUNDLE_UNREADABLE", `${location}: no such bundle`, {
      context: { bundle: location },
      cause: error,
    });
  });
  return info.isDirectory() ? verifyDirectory(location, options) : verifyTar(location, info.size, options);
}

async function verifyDirectory(dir: string, options: VerifyOptions): Promise<VerifiedBundle> {
  const listing = await listDirectoryBundle(dir);
  const { manifest, raw } = parseManifest(listing.manifestBytes, dir);
  const signature = checkSignature(raw, listing.signatureBytes, dir, options);
  const total = manifest.artifacts.reduce((sum, artifact) => sum + artifact.size, 0);
  let done = 0;
  const found = await hashDirectoryArtifacts(dir, manifest, listing.paths, (bytes) => {
    done += bytes;
    options.onProgress?.(done, total);
  });
  checkArtifacts(manifest, found, dir);
  const artifacts = manifest.artifacts.map((entry) => ({ entry, file: path.join(dir, entry.path) }));
  return {
    location: dir,
    form: "directory",
    manifest,
    rawManifest: raw,
    signature,
    artifacts,
    totalBytes: total,
  };
}

async function verifyTar(file: string, size: number, options: VerifyOptions): Promise<VerifiedBundle> {
  const keep = options.keepIn === undefined ? undefined : new LocalCas(options.keepIn);
  const contents = await readTarBundle(file, {
    ...(keep === undefined ? {} : { keep }),
    onRead: (bytes) => options.onProgress?.(bytes, size),
  });
  const temps = [...contents.files.values()].flatMap((found) =>
    found.temp === undefined ? [] : [found.temp],
  );
  try {
    if (contents.manifestBytes === undefined) {
      throw new GroundcrewError("BUNDLE_INVALID", `${file}: the tar holds no manifest.json`, {
        context: { bundle: file },
      });
    }
    const { manifest, raw } = parseManifest(contents.manifestBytes, file);
    const signature = checkSignature(raw, contents.signatureBytes, file, options);
    checkArtifacts(manifest, contents.files, file);
    const artifacts: BundleArtifact[] = [];
    for (const entry of manifest.artifacts) {
      const found = contents.files.get(entry.path);
      if (keep === undefined) artifacts.push({ entry });
      else if (found?.temp !== undefined) {
        artifacts.push({ entry, file: await keep.commit(found.temp, entry.sha256) });
      } else artifacts.push({ entry, file: keep.pathOf(entry.sha256) });
    }
    return {
      location: file,
      form: "tar",
      manifest,
      rawManifest: raw,
      signature,
      artifacts,
      totalBytes: sumSizes(manifest),
    };
  } finally {
    if (keep !== undefined) await Promise.all(temps.map((temp) => keep.discard(temp)));
  }
}

function checkSignature(
  raw: unknown,
  signatureBytes: Buffer | undefined,
  where: string,
  options: VerifyOptions,
): SignatureState {
  const trusted = options.trustedKeys;
  if (signatureBytes === undefined) {
    if (trusted !== undefined && trusted.length > 0) {
      throw new GroundcrewError(
        "BUNDLE_SIGNATURE_MISSING",
        `${where}: the bundle is not signed, and a trusted key was given`,
        { context: { bundle: where } },
      );
    }
    return { state: "absent" };
  }
  const signature = parseSignature(signatureBytes, where);
  if (trusted === undefined || trusted.length === 0) return { state: "unchecked", keyId: signature.keyId };
  return { state: "verified", ...verifyManifestSignature(raw, signature, trusted, where) };
}

function sumSizes(manifest: Manifest): number {
  return manifest.artifacts.reduce((sum, artifact) => sum + artifact.size, 0);
}
