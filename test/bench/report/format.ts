import { formatBytes } from "../../../shared/format-bytes.js";
import type { Ratio, Unit, Value } from "./types.js";

/** A number with thousands separators and at most `digits` decimals, trailing zeros cut. */
export function formatNumber(value: number, digits = 0): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Three significant digits for small values, none below the unit for large ones. */
function sensible(value: number): string {
  const magnitude = Math.abs(value);
  return formatNumber(value, magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3);
}

/** A value in its unit: "1.23 s", "0.45 ms", "3.4 MiB", "12,345", "12,345 events/s". */
export function formatValue(value: number, unit: Unit): string {
  switch (unit) {
    case "bytes":
      return formatBytes(Math.round(value));
    case "count":
      return formatNumber(value, 0);
    case "%":
      return `${sensible(value)} %`;
    default:
      return `${sensible(value)} ${unit}`;
  }
}

/** "ingest 12,345 events/s". */
export function formatNamedValue(value: Value): string {
  return `${value.name} ${formatValue(value.value, value.unit)}`;
}

/** "batched / per-event 14.2×". */
export function formatRatio(ratio: Ratio): string {
  return `${ratio.name} ${sensible(ratio.value)}×`;
}
