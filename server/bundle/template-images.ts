/**
 * `image:` fields of rendered Kubernetes manifests (`helm template` output),
 * in order of first appearance, without duplicates. A simple line parse, not
 * a YAML one: a line `image: REF` (optionally a list item `- image: REF`),
 * REF unquoted or in single or double quotes, a trailing `# comment`
 * ignored. Image fields split into repository/tag keys are not found: the
 * rendered templates of a chart always join them.
 */
export function imagesInTemplates(text: string): string[] {
  const found = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:-\s+)?image:\s*(?:"([^"]+)"|'([^']+)'|([^\s#"']+))\s*(?:#.*)?$/.exec(line);
    const reference = match?.[1] ?? match?.[2] ?? match?.[3];
    if (reference !== undefined && reference.trim() !== "") found.add(reference.trim());
  }
  return [...found];
}
