import { formatValue } from "./format.js";
import type { BenchRecord } from "./store.js";
import type { Unit } from "./types.js";

/**
 * docs/benchmarks.svg: a plain horizontal bar chart written by hand (no
 * browser, no library). One panel per benchmark and charted value name
 * (values marked `chart: true`), each with its own scale from zero; one bar
 * per row that has the value, labelled with the row's case and the value.
 * A new benchmark gets its panels by returning charted values; nothing here
 * knows about any benchmark. The output depends only on the records.
 */

const WIDTH = 820;
const MARGIN = 16;
const LABEL_WIDTH = 300;
const VALUE_WIDTH = 130;
const BAR_X = MARGIN + LABEL_WIDTH + 8;
const BAR_MAX = WIDTH - BAR_X - VALUE_WIDTH - MARGIN;
const BAR_HEIGHT = 16;
const BAR_GAP = 6;
const PANEL_TITLE = 24;
const PANEL_GAP = 18;
const HEADER = 52;
const PALETTE = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5"];

interface Panel {
  readonly title: string;
  readonly colour: string;
  readonly unit: Unit;
  readonly bars: readonly { readonly label: string; readonly value: number }[];
}

function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The panels of all records, in record order and then in order of first appearance of each value name. */
export function chartPanels(records: readonly BenchRecord[]): Panel[] {
  const panels: Panel[] = [];
  records.forEach((record, index) => {
    const { result } = record;
    const names: string[] = [];
    for (const row of result.rows) {
      for (const value of row.values)
        if (value.chart === true && !names.includes(value.name)) names.push(value.name);
    }
    for (const name of names) {
      const bars: { label: string; value: number }[] = [];
      let unit: Unit = "count";
      for (const row of result.rows) {
        const value = row.values.find((candidate) => candidate.name === name && candidate.chart === true);
        if (value === undefined) continue;
        unit = value.unit;
        bars.push({ label: row.case, value: value.value });
      }
      const unitText = unit === "count" ? "" : ` (${unit})`;
      panels.push({
        title: `${result.benchmark}: ${name}${unitText}${record.quick ? ", quick sizes" : ""}`,
        colour: PALETTE[index % PALETTE.length] ?? "#4269d0",
        unit,
        bars,
      });
    }
  });
  return panels;
}

function panelHeight(panel: Panel): number {
  return PANEL_TITLE + panel.bars.length * (BAR_HEIGHT + BAR_GAP) + PANEL_GAP;
}

function renderPanel(panel: Panel, top: number): string[] {
  const out = [`<text x="${MARGIN}" y="${top + 15}" class="panel">${escapeXml(panel.title)}</text>`];
  const max = Math.max(0, ...panel.bars.map((bar) => bar.value));
  panel.bars.forEach((bar, i) => {
    const y = top + PANEL_TITLE + i * (BAR_HEIGHT + BAR_GAP);
    const length = max > 0 ? Math.max(bar.value > 0 ? 1 : 0, (bar.value / max) * BAR_MAX) : 0;
    out.push(
      `<text x="${BAR_X - 8}" y="${y + 12}" class="label" text-anchor="end">${escapeXml(clip(bar.label, 46))}</text>`,
      `<rect x="${BAR_X}" y="${y}" width="${length.toFixed(1)}" height="${BAR_HEIGHT}" fill="${panel.colour}"/>`,
      `<text x="${(BAR_X + length + 6).toFixed(1)}" y="${y + 12}" class="value">${escapeXml(formatValue(bar.value, panel.unit))}</text>`,
    );
  });
  return out;
}

/** The whole chart; `subtitle` says when and where (see docs/benchmarks.md for the machines). */
export function renderChart(records: readonly BenchRecord[], subtitle: string): string {
  const panels = chartPanels(records);
  const height = HEADER + panels.reduce((sum, panel) => sum + panelHeight(panel), 0) + MARGIN;
  const body: string[] = [
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN}" y="24" class="title">groundcrew benchmarks</text>`,
    `<text x="${MARGIN}" y="42" class="subtitle">${escapeXml(subtitle)}</text>`,
  ];
  let top = HEADER;
  for (const panel of panels) {
    body.push(...renderPanel(panel, top));
    top += panelHeight(panel);
  }
  if (panels.length === 0)
    body.push(`<text x="${MARGIN}" y="${HEADER + 14}" class="label">no charted values yet</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    "<style>.title{font-size:16px;font-weight:bold;fill:#111}.subtitle{font-size:11px;fill:#555}.panel{font-size:13px;font-weight:bold;fill:#222}.label{font-size:11px;fill:#333}.value{font-size:11px;fill:#111}</style>",
    ...body,
    "</svg>",
    "",
  ].join("\n");
}
