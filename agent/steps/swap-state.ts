/** Marks a line host.swap-off commented out in /etc/fstab (undo restores the backed-up file instead). */
export const SWAP_OFF_MARK = "# groundcrew swap-off: ";

/** Whether an /etc/fstab line is an active swap entry: not a comment, and its type (third field) is "swap". */
export function isActiveSwapLine(line: string): boolean {
  const trimmed = line.trim();
  return !trimmed.startsWith("#") && trimmed.split(/\s+/)[2] === "swap";
}

export function activeSwapLines(fstab: string): string[] {
  return fstab.split("\n").filter(isActiveSwapLine);
}

/** `fstab` with every active swap line commented out behind SWAP_OFF_MARK; everything else byte for byte. */
export function commentOutSwap(fstab: string): string {
  return fstab
    .split("\n")
    .map((line) => (isActiveSwapLine(line) ? `${SWAP_OFF_MARK}${line}` : line))
    .join("\n");
}

/** The swap areas /proc/swaps lists (first field of each line after the header). */
export function activeSwaps(procSwaps: string): string[] {
  return procSwaps
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/)[0] ?? "")
    .filter((name) => name !== "");
}

/** Unit names from `systemctl list-units --type swap --plain --no-legend` output ("dev-sda2.swap loaded active …"). */
export function swapUnits(listing: string): string[] {
  return listing
    .split("\n")
    .map((line) => line.trim().split(/\s+/)[0] ?? "")
    .filter((name) => name.endsWith(".swap"));
}
