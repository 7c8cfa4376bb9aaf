import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { Parser, type ReadEntry } from "tar";
import { GroundcrewError } from "../../shared/errors.js";
import { unsafePathReason } from "./safe-path.js";

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);
const SKIPPED_TYPES = new Set(["Directory", "GlobalExtendedHeader", "ExtendedHeader", "NextFileHasLongPath"]);

/**
 * Reads a tar stream entry by entry, handing each regular file to `onFile`
 * (which must consume `content`). Directories are skipped; every other entry
 * type (links, devices, fifos) and every path that could escape the bundle
 * ("../x", "/etc/x") is refused with BUNDLE_UNSAFE_PATH naming it, before its
 * content is read. A leading "./" is dropped. `onFile` may answer "stop" to
 * end the scan early (the rest of the tar is not read). Rejects with the
 * first error.
 */
export async function scanTar(
  source: Readable,
  where: string,
  onFile: (path: string, size: number, content: ReadEntry) => Promise<"stop" | undefined>,
): Promise<void> {
  const pending: Promise<void>[] = [];
  let failure: unknown;
  const scan = { stopped: false };
  const fail = (error: unknown): void => {
    failure ??= error;
    source.destroy();
  };
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (failure !== undefined || scan.stopped) {
        entry.resume();
        return;
      }
      const path = entry.path.replace(/^(\.\/)+/, "").replace(/\/$/, "");
      if (path === "" || path === ".") {
        entry.resume();
        return;
      }
      const reason = unsafePathReason(path);
      if (reason !== undefined || !(FILE_TYPES.has(entry.type) || SKIPPED_TYPES.has(entry.type))) {
        const why = reason ?? `a ${entry.type} entry (only files and directories may be in a bundle)`;
        fail(
          new GroundcrewError(
            "BUNDLE_UNSAFE_PATH",
            `${where}: tar entry ${JSON.stringify(entry.path)}: ${why}`,
            {
              context: { bundle: where, entry: entry.path },
            },
          ),
        );
        entry.resume();
        return;
      }
      if (!FILE_TYPES.has(entry.type)) {
        entry.resume();
        return;
      }
      pending.push(
        onFile(path, entry.size, entry).then((answer) => {
          if (answer === "stop" && failure === undefined) {
            scan.stopped = true;
            source.destroy();
          }
        }, fail),
      );
    },
  });
  try {
    await pipeline(source, parser);
  } catch (error) {
    if (!scan.stopped) failure ??= error;
  }
  await Promise.allSettled(pending);
  if (failure !== undefined) {
    if (failure instanceof GroundcrewError) throw failure;
    throw new GroundcrewError("BUNDLE_UNREADABLE", `${where}: not a readable tar: ${describe(failure)}`, {
      context: { bundle: where },
      cause: failure,
    });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
