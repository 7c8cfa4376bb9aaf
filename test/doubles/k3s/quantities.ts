const BINARY_SUFFIXES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"] as const;

/**
 * A byte count as a Kubernetes binary quantity, the way apimachinery
 * canonicalizes one: the largest binary suffix that divides it exactly
 * ("8148044Ki", "2Gi"), else a plain number ("59588292025").
 */
export function binaryQuantity(bytes: number): string {
  let value = Math.max(0, Math.floor(bytes));
  let index = 0;
  while (value !== 0 && value % 1024 === 0 && index < BINARY_SUFFIXES.length - 1) {
    value /= 1024;
    index += 1;
  }
  return `${value}${BINARY_SUFFIXES[index] ?? ""}`;
}
