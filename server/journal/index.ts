/** The provisioner's event journal: see journal.ts for the contract. */
export { Journal } from "./journal.js";
export { ENVELOPE_REFUSALS } from "./event-writer.js";
export type * from "./types.js";
