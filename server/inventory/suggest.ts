/** Edit distance (insertions, deletions, substitutions) between two strings. */
export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(
        Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The closest candidate within edit distance 2 (ignoring case, `-` and `_`),
 * the first one on ties; undefined when none is that close.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const fold = (text: string): string => text.toLowerCase().replace(/[-_]/g, "");
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = Math.min(levenshtein(word, candidate), levenshtein(fold(word), fold(candidate)));
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** `unknown key "adress" in host "web1" (did you mean "address"?)`; no hint when nothing is close. */
export function unknownKey(kind: string, word: string, candidates: Iterable<string>, where?: string): string {
  const hint = closest(word, candidates);
  return (
    `unknown ${kind} ${JSON.stringify(word)}${where === undefined ? "" : ` in ${where}`}` +
    (hint === undefined ? "" : ` (did you mean ${JSON.stringify(hint)}?)`)
  );
}
