import { stringify } from "yaml";
import { parseImageReference } from "../../agent/registry/reference.js";
import { isGroundcrewError } from "../../shared/errors.js";
import { isManifestName, PACKAGED_NAMES } from "../cluster/manifests/manifest-names.js";
import type { AddonDraft } from "./draft.js";
import type { AddonValues } from "./types.js";
import { show } from "./values.js";
import { readFields, text, type Decoder } from "./yaml-fields.js";
import type { Entry, YamlNodes } from "./yaml-nodes.js";

const ADDON_KEYS = ["name", "chart", "version", "namespace", "values", "images"];
/** Helm refuses release names longer than this. */
const MAX_RELEASE_NAME = 53;

/**
 * YAML `addons:`, a list of Helm charts from the bundle:
 * `{name, chart, version?, namespace?, values?, images?}`. Every problem is
 * reported at the line of the value concerned; a bad add-on is left out.
 * The chart and images are checked against the bundle later, by `up`.
 */
export function readAddons(y: YamlNodes, entry: Entry | undefined): AddonDraft[] {
  if (entry === undefined || y.raw(entry.node) === null) return [];
  const items = y.items(entry.node, "addons", entry.line) ?? [];
  const addons: AddonDraft[] = [];
  const seen = new Map<string, number>();
  for (const item of items) {
    const addon = readAddon(y, item);
    if (addon === undefined) continue;
    const earlier = seen.get(addon.name);
    if (earlier !== undefined) {
      y.problems.add(
        addon.line,
        `add-on name ${JSON.stringify(addon.name)} is already used at line ${earlier}`,
      );
      continue;
    }
    seen.set(addon.name, addon.line);
    addons.push(addon);
  }
  return addons;
}

function readAddon(y: YamlNodes, item: Entry): AddonDraft | undefined {
  const entries = y.entries(item.node, "add-on", ADDON_KEYS, item.line);
  if (entries === undefined) return undefined;
  const before = y.problems.count;
  const fields = readFields(y, entries, {
    name: addonName,
    chart: text("chart"),
    version: text("version"),
    namespace: namespace,
    values,
    images,
  });
  if (fields.name === undefined && !entries.some((e) => e.key === "name"))
    y.problems.add(item.line, "add-on has no name");
  if (fields.chart === undefined && !entries.some((e) => e.key === "chart"))
    y.problems.add(
      item.line,
      "add-on has no chart: name a helm-chart artifact of the bundle (its path or name)",
    );
  const { name, chart } = fields;
  if (name === undefined || chart === undefined || y.problems.count > before) return undefined;
  return {
    name: name.value,
    chart: chart.value,
    ...(fields.version === undefined ? {} : { version: fields.version.value }),
    namespace: fields.namespace?.value ?? "default",
    values: fields.values?.value ?? { source: "none" },
    valuesLine: fields.values?.line ?? name.line,
    images: fields.images?.value ?? [],
    line: name.line,
  };
}

const addonName: Decoder<string> = (y, node, line) => {
  const name = text("add-on name")(y, node, line);
  if (name === undefined) return undefined;
  if (!isManifestName(name) || name.length > MAX_RELEASE_NAME) {
    y.problems.add(
      line,
      `add-on name ${JSON.stringify(name)} must be lowercase letters, digits and "-", starting and ending with a letter or digit, at most ${MAX_RELEASE_NAME} characters`,
    );
    return undefined;
  }
  if ((PACKAGED_NAMES as readonly string[]).includes(name)) {
    y.problems.add(
      line,
      `add-on name ${JSON.stringify(name)} is one of k3s's packaged components: choose another`,
    );
    return undefined;
  }
  return name;
};

const namespace: Decoder<string> = (y, node, line) => {
  const value = text("namespace")(y, node, line);
  if (value !== undefined && !isManifestName(value)) {
    y.problems.add(line, `namespace ${JSON.stringify(value)} is not a valid Kubernetes namespace name`);
    return undefined;
  }
  return value;
};

/** A map of Helm values written inline, or the path of a values file. */
const values: Decoder<AddonValues> = (y, node, line) => {
  const raw = y.raw(node);
  if (typeof raw === "string" && raw.trim() !== "") return { source: "file", path: raw.trim() };
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    return { source: "inline", yaml: stringify(raw) };
  }
  y.problems.add(line, `values must be a map of Helm values or the path of a values file, got ${show(raw)}`);
  return undefined;
};

/** Image references (as in a pod spec, by tag); each bad one is reported at its own line. */
const images: Decoder<string[]> = (y, node, line) => {
  const items = y.items(node, "images", line);
  if (items === undefined) return undefined;
  const result: string[] = [];
  for (const item of items) {
    const raw = y.raw(item.node);
    if (typeof raw !== "string" || raw.trim() === "") {
      y.problems.add(item.line, `images items must be image references, got ${show(raw)}`);
      continue;
    }
    try {
      parseImageReference(raw.trim(), "images");
      result.push(raw.trim());
    } catch (error) {
      if (!isGroundcrewError(error, "IMAGE_REFERENCE_INVALID")) throw error;
      y.problems.add(item.line, error.message);
    }
  }
  return result.length === items.length ? result : undefined;
};
