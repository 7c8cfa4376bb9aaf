import path from "node:path";

const EXTENSIONS = [".yaml", ".yml", ".json"];

/** Whether a file name is a manifest: `.yaml`, `.yml` or `.json`, in any case. */
export function hasManifestExtension(name: string): boolean {
  const lower = name.toLowerCase();
  return EXTENSIONS.some((extension) => lower.endsWith(extension));
}

/** The Addon a manifest is recorded as: its basename up to the first period (`local-storage.yaml` → `local-storage`). */
export function addonNameOf(file: string): string {
  return path.basename(file).split(".", 1)[0] ?? "";
}

/** What the deploy controller does with one entry of the manifests folder. */
export interface ManifestEntry {
  readonly name: string;
  /** `delete`: a disabled component's manifest (its objects, Addon and file go); `deploy`: apply when changed. */
  readonly action: "delete" | "deploy";
}

/**
 * k3s's rules for its auto-deploy folder, over the entries' names (sorted):
 * a manifest whose name without its extension is a disabled component is
 * deleted; dotfiles, `*.skip` files, files that a `<name>.skip` names and
 * files that are not manifests are left alone; the rest are deployed.
 */
export function planManifests(names: readonly string[], disabled: ReadonlySet<string>): ManifestEntry[] {
  const skips = new Set(
    names.filter((name) => name.endsWith(".skip")).map((name) => name.slice(0, -".skip".length)),
  );
  const plan: ManifestEntry[] = [];
  for (const name of [...names].sort()) {
    if (hasManifestExtension(name) && disabled.has(name.slice(0, name.length - path.extname(name).length))) {
      plan.push({ name, action: "delete" });
      continue;
    }
    if (name.startsWith(".") || skips.has(name) || !hasManifestExtension(name)) continue;
    plan.push({ name, action: "deploy" });
  }
  return plan;
}
