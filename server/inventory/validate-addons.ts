import type { AddonDraft } from "./draft.js";
import { existingFile, type CheckContext } from "./validate-host.js";
import type { Addon } from "./types.js";

/** Add-ons with their values files resolved (relative to the inventory, "~" expanded) and reported when missing. */
export function finishAddons(drafts: readonly AddonDraft[], context: CheckContext): Addon[] {
  return drafts.map(({ valuesLine, ...addon }) => {
    if (addon.values.source !== "file") return addon;
    const path = existingFile(
      { value: addon.values.path, line: valuesLine },
      `values file of add-on ${JSON.stringify(addon.name)}:`,
      context,
    );
    return { ...addon, values: { source: "file", path: path ?? addon.values.path } };
  });
}
