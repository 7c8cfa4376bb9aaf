import type { ZodIssue } from "zod";
import { nfsStorageSchema } from "./storage-schema.js";
import type { StorageSettings } from "./types.js";
import { show } from "./values.js";
import type { Entry, YamlNodes } from "./yaml-nodes.js";

const STORAGE_KEYS = ["nfs"];
const NFS_KEYS = Object.keys(nfsStorageSchema.shape);

/**
 * YAML `storage:` (a map; `nfs` is its one kind so far). The structure
 * (maps, unknown keys) is walked here so every problem lands at its own
 * line; the values of `nfs` are validated with nfsStorageSchema, each issue
 * reported at the line of the key (or list item) it concerns. A bad `nfs`
 * is left out: the problems reported make the inventory invalid.
 */
export function readStorage(y: YamlNodes, entry: Entry | undefined): StorageSettings {
  if (entry === undefined || y.raw(entry.node) === null) return {};
  const nfs = y.entries(entry.node, "storage", STORAGE_KEYS, entry.line)?.find((item) => item.key === "nfs");
  if (nfs === undefined) return {};
  const entries = y.entries(nfs.node, "storage.nfs", NFS_KEYS, nfs.line);
  if (entries === undefined) return {};
  const raw = Object.fromEntries(entries.map((item) => [item.key, y.raw(item.node)]));
  const parsed = nfsStorageSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      y.problems.add(issueLine(y, entries, issue, nfs.line), issueMessage(raw, issue));
    }
    return {};
  }
  return { nfs: { ...parsed.data, line: nfs.line } };
}

/** `storage.nfs.server must be ..., got "x"`; `storage.nfs.mountOptions[1] must be ...`. */
function issueMessage(raw: Readonly<Record<string, unknown>>, issue: ZodIssue): string {
  const [key, index] = issue.path;
  const field = `storage.nfs.${String(key)}${typeof index === "number" ? `[${index}]` : ""}`;
  if (key === undefined || !Object.hasOwn(raw, key)) return `${field} ${issue.message}`;
  const value: unknown = raw[key];
  const item: unknown = typeof index === "number" && Array.isArray(value) ? value[index] : value;
  return `${field} ${issue.message}, got ${show(item)}`;
}

/** The line of the key (or list item) an issue is about; the `nfs:` line for a missing key. */
function issueLine(y: YamlNodes, entries: readonly Entry[], issue: ZodIssue, fallback: number): number {
  const [key, index] = issue.path;
  const entry = entries.find((item) => item.key === key);
  if (entry === undefined) return fallback;
  if (typeof index !== "number" || !Array.isArray(y.raw(entry.node))) return entry.line;
  return y.items(entry.node, String(key), entry.line)?.[index]?.line ?? entry.line;
}
