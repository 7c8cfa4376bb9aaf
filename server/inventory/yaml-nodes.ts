import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter } from "yaml";
import type { Problems } from "./problems.js";
import { unknownKey } from "./suggest.js";
import { show } from "./values.js";

/** One key of a YAML map: the key text, its value node and the key's line. */
export interface Entry {
  readonly key: string;
  readonly node: unknown;
  readonly line: number;
}

/**
 * Walks a parsed YAML document, reporting every structural problem (wrong
 * node kind, unknown key) at the line of the node concerned.
 */
export class YamlNodes {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    readonly problems: Problems,
  ) {}

  /** The 1-based line where a node starts (1 when it has no position). */
  line(node: unknown, fallback = 1): number {
    const resolved = this.resolve(node);
    if ((isScalar(resolved) || isMap(resolved) || isSeq(resolved)) && resolved.range) {
      return this.lines.linePos(resolved.range[0]).line;
    }
    return fallback;
  }

  /** Follows an alias (*anchor) to the node it names. */
  resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  /** The plain JS value of a node (a scalar's value; a collection's converted form, for messages). */
  raw(node: unknown): unknown {
    const resolved = this.resolve(node);
    if (isScalar(resolved)) return resolved.value;
    if (isMap(resolved) || isSeq(resolved)) return resolved.toJSON();
    return null;
  }

  /**
   * The entries of a map, reporting keys not in `known` (with a did-you-mean)
   * and leaving them out; undefined, reported, when the node is not a map.
   */
  entries(node: unknown, what: string, known?: readonly string[], fallbackLine = 1): Entry[] | undefined {
    const map = this.resolve(node);
    if (!isMap(map)) {
      this.problems.add(this.line(map, fallbackLine), `${what} must be a map, got ${show(this.raw(map))}`);
      return undefined;
    }
    const entries: Entry[] = [];
    for (const pair of map.items) {
      const keyNode = this.resolve(pair.key);
      const key = isScalar(keyNode) ? String(keyNode.value) : show(this.raw(keyNode));
      const line = this.line(keyNode, this.line(map));
      if (known !== undefined && !known.includes(key)) {
        this.problems.add(line, unknownKey("key", key, known, what));
        continue;
      }
      entries.push({ key, node: pair.value, line });
    }
    return entries;
  }

  /** The items of a sequence with their lines; undefined, reported, when the node is not a list. */
  items(node: unknown, what: string, fallbackLine: number): Entry[] | undefined {
    const seq = this.resolve(node);
    if (!isSeq(seq)) {
      this.problems.add(this.line(seq, fallbackLine), `${what} must be a list, got ${show(this.raw(seq))}`);
      return undefined;
    }
    return seq.items.map((item, index) => ({
      key: String(index),
      node: item,
      line: this.line(item, this.line(seq)),
    }));
  }

  /** A list of non-empty strings; reports each bad item at its own line. */
  strings(node: unknown, what: string, fallbackLine: number): string[] | undefined {
    const items = this.items(node, what, fallbackLine);
    if (items === undefined) return undefined;
    const strings: string[] = [];
    for (const item of items) {
      const value = this.raw(item.node);
      if (typeof value === "string" && value.trim() !== "") strings.push(value.trim());
      else this.problems.add(item.line, `${what} items must be non-empty strings, got ${show(value)}`);
    }
    return strings;
  }
}
