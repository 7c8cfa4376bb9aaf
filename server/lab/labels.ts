/**
 * Every Docker object the lab creates carries these labels, so a later run can
 * find (and remove) what an earlier, killed run left behind.
 */
export const LAB_LABEL = "io.groundcrew.lab";
/** Who keeps the object alive: an owner token (see owner.ts) or DETACHED_OWNER. */
export const LAB_OWNER_LABEL = "io.groundcrew.lab.owner";
/** A lab started with `groundcrew lab up`: it outlives the CLI and is removed only by `lab down`. */
export const DETACHED_OWNER = "detached";
/** On images: the hash of the recipe the image was built from. */
export const LAB_RECIPE_LABEL = "io.groundcrew.lab.recipe";
