import { z } from "zod";
import { artifactRefSchema, casPath, HOST_CAS_DIR, type ArtifactRef } from "../../shared/artifacts.js";
import type { Exec } from "../../shared/host-io.js";
import { openImageArchive, type ImageArchive } from "../registry/image-archive.js";
import {
  missingImages,
  registryAnswers,
  seedArchive,
  type RegistryTarget,
} from "../registry/registry-client.js";
import { defineStep } from "../runner/step.js";
import { StepError } from "../runner/step-error.js";
import { localRegistryTarget } from "./registry-target.js";

/** Scratch space for decompressing .tar.gz archives: on disk (not a tmpfs), emptied as each archive closes. */
const SCRATCH_DIR = "/var/tmp";

const paramsSchema = z
  .object({
    /** The bundle's image archives (docker save or OCI layout; .tar or .tar.gz) in this host's store. */
    archives: z.array(artifactRefSchema).max(500),
    port: z.number().int().min(1).max(65535),
    /** groundcrew's CA (PEM file) when the registry serves TLS; plain HTTP without. */
    caFile: z.string().startsWith("/").optional(),
    casDir: z.string().startsWith("/").default(HOST_CAS_DIR),
  })
  .strict();
type SeedParams = z.infer<typeof paramsSchema>;

/** Opens each archive in turn, hands it to `use`, and closes it whatever happens. */
async function eachArchive(
  exec: Exec,
  params: SeedParams,
  use: (archive: ImageArchive, ref: ArtifactRef) => Promise<void>,
): Promise<void> {
  for (const ref of params.archives) {
    const archive = await openImageArchive(casPath(ref.sha256, params.casDir), { tmpDir: SCRATCH_DIR, exec });
    try {
      await use(archive, ref);
    } finally {
      await archive.close();
    }
  }
}

async function missingAll(exec: Exec, params: SeedParams, target: RegistryTarget): Promise<string[]> {
  const missing: string[] = [];
  await eachArchive(exec, params, async (archive) => {
    missing.push(...(await missingImages(target, archive)));
  });
  return missing;
}

/**
 * R3/R4: seeds the depot registry from the bundle's image archives through
 * the registry HTTP API, no Docker daemon: blobs first (those already there
 * skipped, every digest verified while streaming), then manifests exactly as
 * read, children before the tagged index. Done when every image's tag
 * resolves to the archive's digest. Creates nothing of its own: the images
 * live in the registry's storage, which registry.install's undo deletes.
 */
export const registrySeedStep = defineStep({
  id: "registry.seed",
  params: paramsSchema,
  // .tar.zst archives are decompressed into scratch space by the host's zstd, in check as well.
  probes: [["zstd", "-d"]],
  title: (params) => `Seed the depot registry from ${params.archives.length} image archive(s)`,

  async check({ fs, exec, params }) {
    const target = await localRegistryTarget(fs, params.port, params.caFile);
    // Before registry.install has run (a dry run, a first pass) there is nothing to ask: not done.
    if (!(await registryAnswers(target)))
      return { done: false, reason: `no registry answers on port ${params.port} yet` };
    const missing = await missingAll(exec, params, target);
    if (missing.length === 0) return { done: true, reason: "the registry holds every image of the bundle" };
    return {
      done: false,
      reason: `not in the registry: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}`,
    };
  },

  async apply({ fs, exec, params, progress, log }) {
    const target = await localRegistryTarget(fs, params.port, params.caFile);
    const changes: string[] = [];
    await eachArchive(exec, params, async (archive, ref) => {
      const result = await seedArchive(target, archive, (update) => {
        progress({
          message: `${ref.path}: ${update.message}`,
          bytesDone: update.bytesDone,
          bytesTotal: update.bytesTotal,
        });
      });
      log(
        `${ref.path}: ${result.blobsPushed} blob(s) pushed, ${result.blobsMounted} mounted, ${result.blobsSkipped} already there; ${result.manifestsPushed} manifest(s) pushed, ${result.manifestsSkipped} already there`,
      );
      if (result.manifestsPushed > 0 || result.blobsPushed > 0 || result.blobsMounted > 0) {
        changes.push(`seeded ${result.images.join(", ")} from ${ref.path}`);
      }
    });
    return { changes };
  },

  async verify({ fs, exec, params }) {
    const target = await localRegistryTarget(fs, params.port, params.caFile);
    const missing = await missingAll(exec, params, target);
    if (missing.length > 0) {
      throw new StepError(
        "STEP_VERIFY_FAILED",
        `the registry does not serve ${missing.join(", ")} after seeding`,
      );
    }
  },

  undo() {
    return Promise.resolve({ changes: [] });
  },
});
