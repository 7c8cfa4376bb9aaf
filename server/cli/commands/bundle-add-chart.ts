import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { parseImageReference } from "../../../agent/registry/reference.js";
import { GroundcrewError } from "../../../shared/errors.js";
import { formatBytes } from "../../../shared/format-bytes.js";
import { terminalSafe } from "../../../shared/terminal-safe.js";
import { readChartMeta } from "../../bundle/chart-archive.js";
import { addArtifact } from "../../bundle/edit.js";
import { imagesInTemplates } from "../../bundle/template-images.js";
import type { VerifiedBundle } from "../../bundle/verified-bundle.js";
import { bundleImageArchives } from "../../cluster/bundle-images.js";
import type { CliIo } from "../io.js";

/** One image a chart's templates name, and the bundle's image archive holding it (undefined: none). */
export interface ImageCoverage {
  readonly image: string;
  readonly archive?: string;
}

/**
 * Which image archive of `bundle` holds each image (references compared as
 * the depot stores them: registry host dropped, Docker Hub's `library/`
 * added, no tag meaning `latest`). Throws IMAGE_REFERENCE_INVALID for an
 * image that cannot be a reference by tag.
 */
export async function coverImages(
  bundle: VerifiedBundle,
  images: readonly string[],
): Promise<ImageCoverage[]> {
  const archives = await bundleImageArchives(bundle);
  return images.map((image) => {
    const { repository, tag } = parseImageReference(image, "the rendered templates");
    const archive = archives.find((item) => item.images.includes(`${repository}:${tag}`));
    return archive === undefined ? { image } : { image, archive: archive.path };
  });
}

/**
 * `groundcrew bundle add-chart BUNDLE CHART.tgz --images FILE`: adds a
 * packaged Helm chart as a `helm-chart` artifact (name and version from its
 * Chart.yaml, arch `all`, path `helm-chart/<name>-<version>.tgz`), after
 * checking that every image its rendered templates (FILE, e.g. `helm template`
 * output) name is in one of the bundle's image archives. Prints each image
 * with the archive that covers it; fails with BUNDLE_IMAGES_MISSING listing
 * the images the bundle lacks, leaving the bundle as it was.
 */
export function registerBundleAddChartCommand(bundle: Command, io: CliIo): void {
  bundle
    .command("add-chart")
    .description(
      "add a packaged Helm chart, checking that the bundle holds every image its rendered templates name",
    )
    .argument("<bundle>", "bundle directory or .tar / .tar.zst file")
    .argument("<chart>", "the chart, as `helm package` makes it (.tgz)")
    .requiredOption(
      "--images <file>",
      "the chart's rendered templates (`helm template` output): its image: fields are read",
    )
    .option("--replace", "replace a chart already at that path")
    .action(async (location: string, chart: string, flags: { images: string; replace?: boolean }) => {
      const meta = await readChartMeta(chart);
      const images = imagesInTemplates(await readFile(flags.images, "utf8"));
      const { entry, droppedSignature } = await addArtifact(
        location,
        {
          file: chart,
          path: `helm-chart/${meta.name}-${meta.version}.tgz`,
          kind: "helm-chart",
          name: meta.name,
          version: meta.version,
          arch: "all",
        },
        {
          replace: flags.replace === true,
          check: async (verified) => {
            const coverage = await coverImages(verified, images);
            io.out(`${coverageText(coverage, path.basename(flags.images))}\n`);
            const missing = coverage.filter((item) => item.archive === undefined).map((item) => item.image);
            if (missing.length > 0) {
              throw new GroundcrewError(
                "BUNDLE_IMAGES_MISSING",
                `chart ${meta.name} ${meta.version} needs ${missing.length} image(s) the bundle lacks: ${missing.join(", ")}; add an image archive holding them (groundcrew bundle add BUNDLE FILE --kind image-archive) and try again`,
                { context: { chart: meta.name, missing: missing.length } },
              );
            }
          },
        },
      );
      io.out(`added ${terminalSafe(entry.path)} (${formatBytes(entry.size)}, sha256 ${entry.sha256})\n`);
      if (droppedSignature) io.progress("note: the bundle's signature was removed; sign it again");
    });
}

function coverageText(coverage: readonly ImageCoverage[], from: string): string {
  if (coverage.length === 0) return `no image: field in ${terminalSafe(from)}`;
  return [
    `${coverage.length} image(s) in ${terminalSafe(from)}:`,
    ...coverage.map(
      (item) =>
        `  ${terminalSafe(item.image)}  ${item.archive === undefined ? "MISSING" : `in ${terminalSafe(item.archive)}`}`,
    ),
  ].join("\n");
}
