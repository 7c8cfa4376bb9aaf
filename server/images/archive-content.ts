import type { Blob } from "./blob.js";
import type { UstarEntry } from "./ustar.js";

/** What one archive format puts in the outer tar for an image (sorted by writeImageArchive). */
export interface ArchiveContent {
  readonly entries: readonly UstarEntry[];
  /** The archive's own manifest: manifest.json for docker-save, the image manifest blob for oci-layout. */
  readonly manifest: Blob;
}
