import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { format, resolveConfig } from "prettier";
import { readRecords } from "../support/chaos-figures.js";
import { renderReliability } from "../support/reliability-report.js";

/**
 * The last step of `npm run chaos` (scripts/chaos.mjs bundles and runs it):
 * reads the records the chaos suite wrote, prints the report and writes it.
 *
 *   report.mjs --figures DIR --out docs/reliability.md --seconds N
 */
const { values } = parseArgs({
  options: {
    figures: { type: "string" },
    out: { type: "string" },
    seconds: { type: "string" },
  },
  strict: true,
});
const seconds = Number(values.seconds);
if (values.figures === undefined || values.out === undefined || !Number.isFinite(seconds)) {
  throw new Error("usage: report.mjs --figures DIR --out FILE --seconds N");
}
const rendered = renderReliability(await readRecords(values.figures), {
  at: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  seconds,
});
// Formatted as `npm run lint` checks it (tables aligned).
const markdown = await format(rendered, { ...(await resolveConfig(values.out)), parser: "markdown" });
await writeFile(values.out, markdown);
process.stdout.write(`\n${markdown}\nwritten to ${values.out}\n`);
