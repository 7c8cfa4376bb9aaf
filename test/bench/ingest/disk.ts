import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import { summarize, type Summary } from "../report/stats.js";

/** Size of the file the probe writes into: about what SQLite's WAL grows to between checkpoints. */
const PROBE_BYTES = 4 << 20;

/**
 * What one durable write costs on the disk under `dir`: `count` overwrites
 * of 4 KiB, in turn through a preallocated 4 MiB file, each followed by
 * fdatasync and timed alone. That is how a commit with synchronous=FULL in
 * WAL mode writes (into a WAL that is reused after each checkpoint, so its
 * size rarely changes), so it is the floor of a per-event commit.
 */
export function fdatasyncCost(dir: string, count: number): Summary {
  const file = path.join(dir, "fdatasync.probe");
  const fd = openSync(file, "w+", 0o600);
  const block = Buffer.alloc(4096, 0x61);
  const samples: number[] = [];
  try {
    writeSync(fd, Buffer.alloc(PROBE_BYTES), 0, PROBE_BYTES, 0);
    fsyncSync(fd);
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      writeSync(fd, block, 0, block.length, (i * block.length) % PROBE_BYTES);
      fdatasyncSync(fd);
      samples.push(performance.now() - started);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return summarize(samples);
}

/** "ext4 (/dev/vda)": the filesystem `dir` lives on, from /proc/mounts (longest mount point prefix). */
export function filesystemOf(dir: string): string {
  let mounts: string;
  try {
    mounts = readFileSync("/proc/mounts", "utf8");
  } catch {
    return "unknown filesystem";
  }
  let best: { point: string; type: string; device: string } | undefined;
  for (const line of mounts.split("\n")) {
    const [device, point, type] = line.split(" ");
    if (device === undefined || point === undefined || type === undefined) continue;
    const inside = dir === point || dir.startsWith(point.endsWith("/") ? point : `${point}/`);
    if (inside && (best === undefined || point.length > best.point.length)) best = { point, type, device };
  }
  return best === undefined ? "unknown filesystem" : `${best.type} (${best.device} on ${best.point})`;
}
