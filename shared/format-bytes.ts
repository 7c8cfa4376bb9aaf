const UNITS = ["KiB", "MiB", "GiB", "TiB"] as const;

/** "512 B", "3.4 KiB", "95 MiB", "1.2 GiB": binary units, 3 significant digits at most. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = "B";
  for (const next of UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1).replace(/\.0$/, "") : value.toFixed(2).replace(/\.?0+$/, "")} ${unit}`;
}
