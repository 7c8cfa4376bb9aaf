import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Header } from "tar";
import type { ArtifactKind } from "../../shared/artifacts.js";
import { MANIFEST_FILE, renderManifest, type Manifest } from "../../server/bundle/manifest.js";

export interface FixtureArtifact {
  readonly path: string;
  readonly kind: ArtifactKind;
  readonly content: Buffer | string;
  readonly arch?: "amd64" | "arm64" | "all";
  readonly component?: "docker" | "registry" | "nvidia" | "host";
}

/** A valid manifest for these artifacts (sha256 and size computed). */
export function manifestFor(artifacts: readonly FixtureArtifact[], name = "test-bundle"): Manifest {
  return {
    schemaVersion: 1,
    name,
    created: "2026-11-01T00:00:00.000Z",
    arch: ["amd64"],
    artifacts: artifacts.map((artifact) => {
      const bytes = Buffer.from(artifact.content);
      return {
        path: artifact.path,
        kind: artifact.kind,
        name: path.posix.basename(artifact.path),
        version: "1.0",
        arch: artifact.arch ?? "amd64",
        size: bytes.length,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        ...(artifact.component === undefined ? {} : { component: artifact.component }),
      };
    }),
  };
}

/** Writes a directory bundle: the artifacts and their manifest. */
export async function writeDirectoryBundle(
  dir: string,
  artifacts: readonly FixtureArtifact[],
): Promise<Manifest> {
  const manifest = manifestFor(artifacts);
  await mkdir(dir, { recursive: true });
  for (const artifact of artifacts) {
    await mkdir(path.dirname(path.join(dir, artifact.path)), { recursive: true });
    await writeFile(path.join(dir, artifact.path), artifact.content);
  }
  await writeFile(path.join(dir, MANIFEST_FILE), renderManifest(manifest));
  return manifest;
}

export interface RawTarEntry {
  readonly path: string;
  readonly type?: "File" | "Directory" | "SymbolicLink" | "Link";
  readonly content?: Buffer | string;
  readonly linkpath?: string;
}

/** A tar built header by header, so tests can put in what no well-behaved tool would ("../x", links). */
export function rawTar(entries: readonly RawTarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const content = Buffer.from(entry.content ?? "");
    const header = new Header({
      path: entry.path,
      type: entry.type ?? "File",
      size: entry.type === undefined || entry.type === "File" ? content.length : 0,
      mode: 0o644,
      mtime: new Date(0),
      ...(entry.linkpath === undefined ? {} : { linkpath: entry.linkpath }),
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (content.length > 0) {
      blocks.push(content, Buffer.alloc((512 - (content.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** The tar of a manifest (first) and its artifacts, as `bundle build` writes it. */
export function tarBundle(artifacts: readonly FixtureArtifact[], manifest = manifestFor(artifacts)): Buffer {
  return rawTar([
    { path: MANIFEST_FILE, content: renderManifest(manifest) },
    ...artifacts.map((artifact) => ({ path: artifact.path, content: artifact.content })),
  ]);
}
