import { stat } from "node:fs/promises";
import { GroundcrewError } from "../../shared/errors.js";
import { openTarStream } from "./bundle-stream.js";
import {
  MANIFEST_FILE,
  MAX_MANIFEST_BYTES,
  SIGNATURE_FILE,
  parseManifest,
  type Manifest,
} from "./manifest.js";
import { listDirectoryBundle } from "./read-directory.js";
import { parseSignature, type SignatureFile } from "./signature.js";
import { scanTar } from "./tar-scan.js";

export interface BundleHeader {
  readonly location: string;
  readonly form: "directory" | "tar";
  readonly manifest: Manifest;
  readonly rawManifest: unknown;
  readonly signature?: SignatureFile;
}

/**
 * The manifest and signature of a bundle, without reading its artifacts (a
 * tar is read only up to the first artifact after the manifest and
 * signature). Checks nothing but the manifest's own validity: use
 * verifyBundle before trusting any artifact.
 */
export async function readBundleHeader(location: string): Promise<BundleHeader> {
  const info = await stat(location).catch((error: unknown) => {
    throw new GroundcrewError("BUNDLE_UNREADABLE", `${location}: no such bundle`, {
      context: { bundle: location },
      cause: error,
    });
  });
  let manifestBytes: Buffer | undefined;
  let signatureBytes: Buffer | undefined;
  if (info.isDirectory()) {
    const listing = await listDirectoryBundle(location);
    manifestBytes = listing.manifestBytes;
    signatureBytes = listing.signatureBytes;
  } else {
    await scanTar(openTarStream(location), location, async (path, size, content) => {
      if (path !== MANIFEST_FILE && path !== SIGNATURE_FILE) {
        content.resume();
        return manifestBytes === undefined ? undefined : "stop";
      }
      if (size > MAX_MANIFEST_BYTES) {
        throw new GroundcrewError("BUNDLE_INVALID", `${location}: ${path} is too large`, {
          context: { bundle: location },
        });
      }
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk);
      if (path === MANIFEST_FILE) manifestBytes = Buffer.concat(chunks);
      else signatureBytes = Buffer.concat(chunks);
      return undefined;
    });
  }
  if (manifestBytes === undefined) {
    throw new GroundcrewError("BUNDLE_INVALID", `${location}: the bundle holds no ${MANIFEST_FILE}`, {
      context: { bundle: location },
    });
  }
  const { manifest, raw } = parseManifest(manifestBytes, location);
  return {
    location,
    form: info.isDirectory() ? "directory" : "tar",
    manifest,
    rawManifest: raw,
    ...(signatureBytes === undefined ? {} : { signature: parseSignature(signatureBytes, location) }),
  };
}
