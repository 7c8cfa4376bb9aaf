import type { KeyObject } from "node:crypto";
import type { ArtifactEntry, Manifest } from "./manifest.js";

/** How a bundle's signature stands after reading it. */
export type SignatureState =
  | { readonly state: "verified"; readonly keyId: string }
  /** Signed, but no trusted key was given, so nothing was checked. */
  | { readonly state: "unchecked"; readonly keyId: string }
  | { readonly state: "absent" };

export interface BundleArtifact {
  readonly entry: ArtifactEntry;
  /** A local file holding exactly the artifact's bytes (verified), when the reader kept one. */
  readonly file?: string;
}

/** A bundle whose manifest is valid and every artifact's size and sha256 match it. */
export interface VerifiedBundle {
  readonly location: string;
  readonly form: "directory" | "tar";
  readonly manifest: Manifest;
  /** The manifest JSON as read: what a signature covers. */
  readonly rawManifest: unknown;
  readonly signature: SignatureState;
  readonly artifacts: readonly BundleArtifact[];
  readonly totalBytes: number;
}

export interface VerifyOptions {
  /** Keys a signature must verify against; when given, an unsigned bundle is refused. */
  readonly trustedKeys?: readonly KeyObject[];
  /**
   * For tar bundles: a content-addressed directory (`<dir>/sha256/<hex>`) to
   * keep verified artifacts in, so they can be sent on. Artifacts already
   * there are hashed from the tar but not written again.
   */
  readonly keepIn?: string;
  /** Bytes of the bundle read so far, of `total`. */
  readonly onProgress?: (done: number, total: number) => void;
}
