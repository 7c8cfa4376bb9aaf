import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { parseImageReference } from "../../agent/registry/reference.js";
import { artifactRef } from "../bundle/manifest.js";
import type { BundleArtifact, VerifiedBundle } from "../bundle/verified-bundle.js";
import { InventoryInvalidError, type InventoryProblem } from "../inventory/problems.js";
import type { Addon, Inventory } from "../inventory/types.js";
import { bundleImages } from "./bundle-images.js";
import { INLINE_CHART_MAX_BYTES, type AddonSource } from "./manifests/cluster-manifests.js";

/** A values file larger than this is refused: values travel in the plan. */
const MAX_VALUES_BYTES = 256 * 1024;

/**
 * The inventory's add-ons checked against the verified bundle and read,
 * before any host is touched: each chart must be one helm-chart artifact
 * (by path, or by name and the version when given), each listed image in
 * one of the bundle's image archives (so registry.seed puts it in the
 * depot), each values file readable YAML. Small charts' bytes are read for
 * inlining. Throws InventoryInvalidError naming every problem as
 * `file:line` at the add-on. Without a bundle nothing is installed: [].
 */
export async function loadAddonSources(
  inventory: Inventory,
  bundle: VerifiedBundle | undefined,
): Promise<AddonSource[]> {
  if (bundle === undefined || inventory.addons.length === 0) return [];
  const problems: InventoryProblem[] = [];
  const report = (addon: Addon, message: string): void => {
    problems.push({ line: addon.line, message: `add-on ${JSON.stringify(addon.name)}: ${message}` });
  };
  const needImages = inventory.addons.some((addon) => addon.images.length > 0);
  const images = new Set(needImages ? await bundleImages(bundle) : []);
  const sources: AddonSource[] = [];
  for (const addon of inventory.addons) {
    for (const image of addon.images) {
      const { repository, tag } = parseImageReference(image, `add-on ${addon.name}`);
      if (!images.has(`${repository}:${tag}`))
        report(
          addon,
          `image ${image} is in no image archive of the bundle (add one: groundcrew bundle add BUNDLE FILE --kind image-archive)`,
        );
    }
    const chart = findChart(bundle, addon);
    if (typeof chart === "string") {
      report(addon, chart);
      continue;
    }
    const values = await readValues(addon);
    if (values !== undefined && typeof values !== "string") {
      report(addon, values.problem);
      continue;
    }
    const bytes =
      chart.entry.size <= INLINE_CHART_MAX_BYTES && chart.file !== undefined
        ? await readFile(chart.file)
        : undefined;
    sources.push({
      name: addon.name,
      namespace: addon.namespace,
      chart: artifactRef(chart.entry),
      ...(bytes === undefined ? {} : { bytes }),
      ...(values === undefined ? {} : { valuesContent: values }),
    });
  }
  if (problems.length > 0) throw new InventoryInvalidError(inventory.file, problems);
  return sources;
}

/** The add-on's chart artifact, or why there is none. */
function findChart(bundle: VerifiedBundle, addon: Addon): BundleArtifact | string {
  const charts = bundle.artifacts.filter((artifact) => artifact.entry.kind === "helm-chart");
  const named = charts.filter(
    ({ entry }) =>
      (entry.path === addon.chart || entry.name === addon.chart) &&
      (addon.version === undefined || entry.version === addon.version),
  );
  const [only, ...more] = named;
  if (only !== undefined && more.length === 0) return only;
  const listed = charts.map(({ entry }) => `${entry.path} (${entry.name} ${entry.version})`).join(", ");
  if (only !== undefined)
    return `chart ${JSON.stringify(addon.chart)} matches several charts of the bundle: name its path (${listed})`;
  const version = addon.version === undefined ? "" : ` version ${addon.version}`;
  return `chart ${JSON.stringify(addon.chart)}${version} is not in the bundle (its charts: ${listed === "" ? "none" : listed}); add it with groundcrew bundle add-chart`;
}

/** values.yaml text (undefined for the chart's defaults), or why it cannot be used. */
async function readValues(addon: Addon): Promise<string | undefined | { problem: string }> {
  if (addon.values.source === "none") return undefined;
  if (addon.values.source === "inline") return addon.values.yaml;
  const file = addon.values.path;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    return {
      problem: `cannot read values file ${file}: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  if (Buffer.byteLength(text) > MAX_VALUES_BYTES)
    return { problem: `values file ${file} is larger than 256 KiB` };
  const doc = parseDocument(text);
  if (doc.errors.length > 0)
    return { problem: `values file ${file} is not valid YAML: ${doc.errors[0]?.message ?? ""}` };
  const content: unknown = doc.toJS();
  if (content !== null && (typeof content !== "object" || Array.isArray(content)))
    return { problem: `values file ${file} must hold a map of values` };
  return text;
}
