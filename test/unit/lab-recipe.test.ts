import { describe, expect, it } from "vitest";
import { MACHINE_RECIPE, machineImageTag, recipeHash } from "../../server/lab/image-recipe.js";

describe("lab image recipe", () => {
  it("is cached under a hash that changes with anything in the recipe", () => {
    expect(recipeHash(MACHINE_RECIPE)).toBe(recipeHash({ ...MACHINE_RECIPE }));
    expect(machineImageTag(MACHINE_RECIPE)).toMatch(/^groundcrew-lab-machine:[0-9a-f]{16}$/);
    const variants = [
      { ...MACHINE_RECIPE, revision: MACHINE_RECIPE.revision + 1 },
      { ...MACHINE_RECIPE, packages: [...MACHINE_RECIPE.packages, "curl"] },
      { ...MACHINE_RECIPE, hooks: [...MACHINE_RECIPE.hooks, "true"] },
      {
        ...MACHINE_RECIPE,
        overlay: { ...MACHINE_RECIPE.overlay, "/etc/motd": { content: "hi\n", mode: 0o644 } },
      },
    ];
    const hashes = new Set([MACHINE_RECIPE, ...variants].map(recipeHash));
    expect(hashes.size).toBe(variants.length + 1);
  });

  it("never puts Node.js on a fleet machine", () => {
    expect(MACHINE_RECIPE.packages.filter((name) => /node/i.test(name))).toEqual([]);
  });
});
