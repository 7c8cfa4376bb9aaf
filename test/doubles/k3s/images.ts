import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { readOptional, writeFileAtomic } from "./files.js";
import { info, warn } from "./log.js";

/** The archive suffixes k3s imports from `<data-dir>/agent/images/`. */
const ARCHIVE_SUFFIXES = [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.bz2", ".tbz", ".tar.lz4"];
const CACHE_FILE = ".cache.json";

const cacheSchema = z.record(z.object({ size: z.number(), modTime: z.string() }));
type Cache = z.infer<typeof cacheSchema>;

/**
 * "Imports" the image archives of `<data-dir>/agent/images/` as k3s does at
 * start (the archives are not read, only listed; a log line per archive
 * says what happened, with its size):
 *   - without `.cache.json` there, every archive is imported on every start;
 *   - with it (even empty), an archive whose size and mtime equal its cache
 *     entry is skipped, and the cache is rewritten with every archive
 *     present (so `touch`ing an archive, or emptying the cache, forces a
 *     re-import). An unreadable cache counts as empty.
 * `.txt` lists are images to pull, which an air gap cannot: logged only.
 */
export async function importImages(dataDir: string): Promise<void> {
  const dir = path.join(dataDir, "agent", "images");
  const names = (await readdir(dir).catch(() => [])).sort();
  const cacheText = await readOptional(path.join(dir, CACHE_FILE));
  const cache = cacheText === undefined ? undefined : parseCache(cacheText);
  const next: Cache = {};
  for (const name of names) {
    const file = path.join(dir, name);
    if (name.endsWith(".txt")) {
      info(`Pulling images from ${file} is not possible in the test double (no registry); skipped`);
      continue;
    }
    if (!ARCHIVE_SUFFIXES.some((suffix) => name.endsWith(suffix))) continue;
    const stats = await stat(file);
    if (!stats.isFile()) continue;
    const entry = { size: stats.size, modTime: stats.mtime.toISOString() };
    next[file] = entry;
    const cached = cache?.[file];
    if (cached !== undefined && cached.size === entry.size && cached.modTime === entry.modTime) {
      info(`Image file ${file} has not changed since last import (${stats.size} bytes); skipped`);
      continue;
    }
    const started = Date.now();
    info(`Importing images from ${file}`);
    info(`Imported images from ${file} in ${Date.now() - started}ms (${stats.size} bytes)`);
  }
  if (cache !== undefined)
    await writeFileAtomic(path.join(dir, CACHE_FILE), `${JSON.stringify(next)}\n`, 0o644);
}

function parseCache(text: string): Cache {
  if (text.trim() === "") return {};
  try {
    const parsed = cacheSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through: an unreadable cache is an empty one
  }
  warn(`Image import cache ${CACHE_FILE} is not valid; importing every archive`);
  return {};
}
