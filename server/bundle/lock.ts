import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isMap, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import type { ZodIssue } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import { unknownKey } from "../inventory/suggest.js";
import { lockArtifactSchema, lockSchema, type Lock, type LockArtifact } from "./lock-schema.js";
import { jsonPath, MANIFEST_FILE, SIGNATURE_FILE } from "./manifest.js";

/** A lock read from disk: `file:` sources are absolute (`file:/abs/path`) once loaded. */
export interface LoadedLock {
  readonly lock: Lock;
  /** The lock file's folder, which relative `file:` sources were resolved against. */
  readonly dir: string;
  /** The lock file, absolute. */
  readonly file: string;
}

/** One thing wrong with a lock, at a 1-based line of its file. */
export interface LockProblem {
  readonly line: number;
  readonly message: string;
}

/**
 * Every problem of a lock, one "FILE:LINE: message" per line of the message.
 * Code BUNDLE_UNSAFE_PATH when every problem is an artifact path that would
 * escape the bundle, BUNDLE_LOCK_INVALID otherwise.
 */
export class LockInvalidError extends GroundcrewError {
  readonly problems: readonly LockProblem[];

  constructor(file: string, problems: readonly LockProblem[], unsafeOnly = false) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(
      unsafeOnly ? "BUNDLE_UNSAFE_PATH" : "BUNDLE_LOCK_INVALID",
      [`bundle lock ${file} has ${count}:`, ...problems.map((p) => `${file}:${p.line}: ${p.message}`)].join(
        "\n",
      ),
      { context: { file, problems: problems.length } },
    );
    this.problems = problems;
  }
}

/**
 * Reads and validates the lock at `file`. Throws LockInvalidError
 * (BUNDLE_LOCK_INVALID) when it cannot be read or is not valid, listing every
 * problem at its line.
 */
export async function loadLock(file: string): Promise<LoadedLock> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, "utf8");
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new GroundcrewError("BUNDLE_LOCK_INVALID", `cannot read bundle lock ${file}: ${reason}`, {
      cause,
      context: { file: absolute },
    });
  }
  return { lock: parseLock(text, absolute), dir: path.dirname(absolute), file: absolute };
}

/**
 * Parses a lock's text. Pure. `file` names the lock in messages and its
 * folder is where relative `file:` sources are taken from (pass an absolute
 * path). Besides the schema, it checks what the manifest will demand: unique
 * paths that are not reserved names and do not nest in one another, each
 * artifact's arch among the lock's, `component` only on debs and `format`
 * only on image archives.
 */
export function parseLock(text: string, file: string): Lock {
  const lines = new LineCounter();
  // Every value of a lock is text: the failsafe schema keeps `version: 1.10` as "1.10" and an
  // all-digit sha256 as a string rather than turning them into numbers.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, schema: "failsafe" });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error) => ({
      line: lines.linePos(error.pos[0]).line,
      message: `not valid YAML: ${error.message.split("\n")[0] ?? error.message}`,
    }));
    throw new LockInvalidError(file, problems);
  }
  const nodes = new NodeLines(doc, lines);
  const parsed = lockSchema.safeParse(doc.toJS());
  const problems = parsed.success
    ? consistencyProblems(parsed.data, nodes)
    : parsed.error.issues.flatMap((issue) => issueProblems(issue, nodes));
  if (!parsed.success || problems.length > 0) {
    const unsafeOnly = problems.every((problem) => problem.unsafe);
    throw new LockInvalidError(file, sortProblems(problems), unsafeOnly);
  }
  const dir = path.dirname(file);
  const unresolved: Problem[] = [];
  const artifacts = parsed.data.artifacts.map((artifact, index) => {
    try {
      return { ...artifact, source: resolveSource(artifact.source, dir) };
    } catch (error) {
      const at = ["artifacts", index, "source"];
      const reason = error instanceof Error ? error.message : String(error);
      unresolved.push({ line: nodes.line(at), message: `${jsonPath(at)}: ${reason}`, unsafe: false });
      return artifact;
    }
  });
  if (unresolved.length > 0) throw new LockInvalidError(file, sortProblems(unresolved));
  return { ...parsed.data, artifacts };
}

/** The absolute path a `file:` source names, or undefined for http(s) sources. */
export function localSourcePath(source: string): string | undefined {
  if (!source.startsWith("file:")) return undefined;
  return source.startsWith("file://") ? fileURLToPath(source) : source.slice("file:".length);
}

/**
 * `file:rel/x` → `file:/dir/rel/x`; `file:///abs` → `file:/abs`; URLs
 * unchanged. Throws (an Error saying why) for a `file:` source naming no
 * path or a file URL with a remote host.
 */
function resolveSource(source: string, dir: string): string {
  const local = localSourcePath(source);
  if (local === undefined) return source;
  if (local === "") throw new Error("file: names no path");
  return `file:${path.resolve(dir, local)}`;
}

interface Problem extends LockProblem {
  /** The problem is an artifact path that would escape the bundle. */
  readonly unsafe: boolean;
}

function sortProblems(problems: readonly Problem[]): LockProblem[] {
  const seen = new Set<string>();
  return problems
    .filter((problem) => {
      const key = `${problem.line}\u0000${problem.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.line - b.line)
    .map(({ line, message }) => ({ line, message }));
}

/** Maps zod issue paths to the lines of the YAML nodes they point at. */
class NodeLines {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** The line of the deepest node along `at` that exists (1 for the document). */
  line(at: readonly (string | number)[]): number {
    for (let depth = at.length; depth > 0; depth--) {
      const line = this.nodeLine(this.doc.getIn(at.slice(0, depth), true));
      if (line !== undefined) return line;
    }
    return this.nodeLine(this.doc.contents) ?? 1;
  }

  /** The line of `key` in the map at `at` (the map's line when the key is not there). */
  keyLine(at: readonly (string | number)[], key: string): number {
    const map = at.length === 0 ? this.doc.contents : this.doc.getIn(at, true);
    if (isMap(map)) {
      const pair = map.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
      const line = pair === undefined ? undefined : this.nodeLine(pair.key);
      if (line !== undefined) return line;
    }
    return this.line(at);
  }

  private nodeLine(node: unknown): number | undefined {
    if (node !== null && typeof node === "object" && "range" in node && Array.isArray(node.range)) {
      const start: unknown = node.range[0];
      if (typeof start === "number") return this.lines.linePos(start).line;
    }
    return undefined;
  }
}

const ARTIFACT_KEYS = Object.keys(lockArtifactSchema.innerType().shape);
const TOP_KEYS = Object.keys(lockSchema.shape);

function issueProblems(issue: ZodIssue, nodes: NodeLines): Problem[] {
  const where = jsonPath(issue.path);
  const unsafe = issue.path.at(-1) === "path" && issue.code === "custom" && issue.path[0] === "artifacts";
  if (issue.code === "unrecognized_keys") {
    const known = issue.path.length === 0 ? TOP_KEYS : ARTIFACT_KEYS;
    return issue.keys.map((key) => ({
      line: nodes.keyLine(issue.path, key),
      message: unknownKey("key", key, known, issue.path.length === 0 ? "the lock" : where),
      unsafe: false,
    }));
  }
  if (issue.code === "invalid_type" && issue.received === "undefined") {
    const parent = issue.path.slice(0, -1);
    return [{ line: nodes.line(parent), message: `${where} is missing`, unsafe: false }];
  }
  return [{ line: nodes.line(issue.path), message: `${where}: ${issue.message}`, unsafe }];
}

const RESERVED = new Set([MANIFEST_FILE, SIGNATURE_FILE]);

/** Checks a schema-valid lock for what the manifest will refuse (see parseLock). */
function consistencyProblems(lock: Lock, nodes: NodeLines): Problem[] {
  const problems: Problem[] = [];
  const add = (at: readonly (string | number)[], message: string): void => {
    problems.push({ line: nodes.line(at), message: `${jsonPath(at)}: ${message}`, unsafe: false });
  };
  const seen = new Map<string, number>();
  lock.artifacts.forEach((artifact: LockArtifact, index) => {
    const at = ["artifacts", index];
    const previous = seen.get(artifact.path);
    if (previous !== undefined) {
      add([...at, "path"], `${artifact.path} is listed twice (also artifacts[${previous}])`);
    } else {
      seen.set(artifact.path, index);
    }
    if (RESERVED.has(artifact.path))
      add([...at, "path"], `${artifact.path} is reserved for the bundle itself`);
    if (artifact.arch !== "all" && !lock.arch.includes(artifact.arch)) {
      add(
        [...at, "arch"],
        `${artifact.arch} is not one of the lock's architectures (${lock.arch.join(", ")})`,
      );
    }
    if (artifact.component !== undefined && artifact.kind !== "deb") {
      add([...at, "component"], "component applies to kind deb only");
    }
    if (artifact.format !== undefined && artifact.kind !== "image-archive") {
      add([...at, "format"], "format applies to kind image-archive only");
    }
  });
  // A path that is another's folder ("k3s" and "k3s/images.tar") cannot be both a file and a folder.
  const paths = [...seen.keys()];
  lock.artifacts.forEach((artifact, index) => {
    const parent = paths.find((other) => artifact.path.startsWith(`${other}/`));
    if (parent !== undefined) {
      add(
        ["artifacts", index, "path"],
        `${artifact.path} lies under ${parent}, which is a file of the bundle`,
      );
    }
  });
  return problems;
}
