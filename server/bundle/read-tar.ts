import { GroundcrewError } from "../../shared/errors.js";
import type { FoundFile } from "./artifact-check.js";
import { openTarStream } from "./bundle-stream.js";
import { hashStream } from "./hash-stream.js";
import type { LocalCas } from "./local-cas.js";
import { MANIFEST_FILE, MAX_MANIFEST_BYTES, SIGNATURE_FILE, parseManifest } from "./manifest.js";
import { scanTar } from "./tar-scan.js";

export interface TarContents {
  readonly manifestBytes?: Buffer;
  readonly signatureBytes?: Buffer;
  /** Every regular file but the manifest and signature: size, sha256 and, when kept, the temp file holding it. */
  readonly files: ReadonlyMap<string, FoundFile & { readonly temp?: string }>;
}

const MAX_SIGNATURE_BYTES = 4096;

/**
 * One pass over a tar bundle: buffers manifest.json and manifest.sig, hashes
 * every other file and, with `keep`, copies it to a temp file in that store
 * (skipped when the manifest came first and the store already holds the
 * sha256 it names for that path). The caller checks the result against the
 * manifest and commits or discards the temp files. Duplicate paths are
 * refused (BUNDLE_UNSAFE_PATH): a later entry would silently replace one.
 */
export async function readTarBundle(
  file: string,
  options: { keep?: LocalCas; onRead?: (bytes: number) => void } = {},
): Promise<TarContents> {
  let manifestBytes: Buffer | undefined;
  let signatureBytes: Buffer | undefined;
  let expected: Map<string, { sha256: string; size: number }> | undefined;
  const files = new Map<string, FoundFile & { temp?: string }>();
  const seen = new Set<string>();
  await scanTar(
    openTarStream(file, options.onRead),
    file,
    async (path, size, content): Promise<undefined> => {
      if (seen.has(path)) {
        content.resume();
        throw new GroundcrewError("BUNDLE_UNSAFE_PATH", `${file}: ${path} appears twice in the tar`, {
          context: { bundle: file, entry: path },
        });
      }
      seen.add(path);
      if (path === MANIFEST_FILE || path === SIGNATURE_FILE) {
        const limit = path === MANIFEST_FILE ? MAX_MANIFEST_BYTES : MAX_SIGNATURE_BYTES;
        if (size > limit) {
          content.resume();
          throw new GroundcrewError("BUNDLE_INVALID", `${file}: ${path} is too large (${size} bytes)`, {
            context: { bundle: file },
          });
        }
        const chunks: Buffer[] = [];
        for await (const chunk of content) chunks.push(chunk);
        if (path === MANIFEST_FILE) {
          manifestBytes = Buffer.concat(chunks);
          expected = expectedByPath(manifestBytes, file);
        } else signatureBytes = Buffer.concat(chunks);
        return undefined;
      }
      const want = expected?.get(path);
      const alreadyKept =
        want !== undefined && options.keep !== undefined && (await options.keep.has(want.sha256, want.size));
      const temp = options.keep !== undefined && !alreadyKept ? await options.keep.tempFile() : undefined;
      try {
        const hashed = await hashStream(
          content as AsyncIterable<Buffer>,
          temp === undefined ? {} : { copyTo: temp },
        );
        files.set(path, { ...hashed, ...(temp === undefined ? {} : { temp }) });
        return undefined;
      } catch (error) {
        if (temp !== undefined) await options.keep?.discard(temp);
        throw error;
      }
    },
  );
  return {
    ...(manifestBytes === undefined ? {} : { manifestBytes }),
    ...(signatureBytes === undefined ? {} : { signatureBytes }),
    files,
  };
}

/** The manifest's path → (sha256, size), or undefined when it does not parse (reported later, with the full error). */
function expectedByPath(
  bytes: Buffer,
  file: string,
): Map<string, { sha256: string; size: number }> | undefined {
  try {
    const { manifest } = parseManifest(bytes, file);
    return new Map(manifest.artifacts.map((artifact) => [artifact.path, artifact]));
  } catch {
    return undefined;
  }
}
