import { createReadStream } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ImageName } from "testcontainers";
import { localExec } from "../../agent/host/local-exec.js";
import { localFs } from "../../agent/host/local-fs.js";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec } from "../../shared/host-io.js";
import type { DockerClient } from "./docker.js";
import { acquireFileLock } from "./file-lock.js";
import { MACHINE_RECIPE, machineImageTag, recipeHash, type MachineImageRecipe } from "./image-recipe.js";
import { LAB_RECIPE_LABEL } from "./labels.js";

export interface ImageBuildOptions {
  readonly recipe?: MachineImageRecipe;
  /** Build even when an image for this recipe exists. */
  readonly rebuild?: boolean;
  readonly exec?: Exec;
  readonly onProgress?: (message: string) => void;
}

/**
 * Returns the tag of the lab machine image for the recipe, building it first
 * (mmdebstrap from Debian's packages, then `docker import`) when Docker has no
 * image for the recipe's hash. Concurrent callers build it once.
 * Throws GroundcrewError LAB_IMAGE_BUILD_FAILED with mmdebstrap's output.
 */
export async function ensureMachineImage(
  client: DockerClient,
  options: ImageBuildOptions = {},
): Promise<string> {
  const recipe = options.recipe ?? MACHINE_RECIPE;
  const tag = machineImageTag(recipe);
  const exists = (): Promise<boolean> => client.image.exists(ImageName.fromString(tag));
  if (options.rebuild !== true && (await exists())) return tag;

  const lockPath = path.join(tmpdir(), `groundcrew-lab-image-${recipeHash(recipe).slice(0, 16)}.lock`);
  const release = await acquireFileLock(localFs, lockPath, async () => options.rebuild !== true && exists());
  if (release === undefined) return tag;
  try {
    if (options.rebuild === true || !(await exists())) {
      await buildImage(client, recipe, tag, options.exec ?? localExec, options.onProgress);
    }
    return tag;
  } finally {
    await release();
  }
}

async function buildImage(
  client: DockerClient,
  recipe: MachineImageRecipe,
  tag: string,
  exec: Exec,
  onProgress: ((message: string) => void) | undefined,
): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), "groundcrew-lab-image-"));
  try {
    const overlay = path.join(work, "overlay");
    for (const [file, { content, mode }] of Object.entries(recipe.overlay)) {
      const target = path.join(overlay, file);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, content);
      await chmod(target, mode);
    }
    const rootfs = path.join(work, "rootfs.tar");
    onProgress?.(`building lab machine image ${tag} from Debian ${recipe.suite} packages (about a minute)`);
    const result = await exec
      .run(
        [
          "mmdebstrap",
          "--variant=apt",
          "--format=tar",
          `--include=${recipe.packages.join(",")}`,
          `--customize-hook=sync-in ${overlay} /`,
          ...recipe.hooks.map((hook) => `--customize-hook=${hook}`),
          recipe.suite,
          rootfs,
        ],
        { timeoutMs: 20 * 60_000 },
      )
      .catch((cause: unknown) => {
        throw new GroundcrewError(
          "LAB_IMAGE_BUILD_FAILED",
          "mmdebstrap could not be started: install it (apt-get install mmdebstrap)",
          { cause },
        );
      });
    if (result.code !== 0) {
      throw new GroundcrewError(
        "LAB_IMAGE_BUILD_FAILED",
        `mmdebstrap exited with ${result.code}:\n${result.stderr.slice(-4000)}`,
        { context: { tag } },
      );
    }
    onProgress?.(`importing ${tag} into Docker`);
    await importRootfs(client, rootfs, tag, recipeHash(recipe));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function importRootfs(client: DockerClient, rootfs: string, tag: string, hash: string): Promise<void> {
  const [repo, version] = tag.split(":");
  const docker = client.container.dockerode;
  const progress = await docker
    .importImage(createReadStream(rootfs), {
      repo,
      tag: version,
      changes: ['CMD ["/sbin/init"]', `LABEL ${LAB_RECIPE_LABEL}=${hash}`],
    })
    .catch((cause: unknown) => {
      throw new GroundcrewError("LAB_IMAGE_BUILD_FAILED", `docker import of ${tag} failed`, { cause });
    });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(progress, (error: Error | null) => {
      if (error === null) resolve();
      else reject(new GroundcrewError("LAB_IMAGE_BUILD_FAILED", `docker import failed: ${error.message}`));
    });
  });
}
