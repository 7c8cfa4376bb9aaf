import type { Command } from "commander";
import { formatBytes } from "../../../shared/format-bytes.js";
import { terminalSafe } from "../../../shared/terminal-safe.js";
import { buildBundle, type BuildEvent } from "../../bundle/build.js";
import { parseConcurrency, type CliIo } from "../io.js";

interface BuildFlags {
  lock: string;
  out: string;
  force?: boolean;
  allowUnpinned?: boolean;
  concurrency: string;
  cache?: string;
}

/** `groundcrew bundle build`: a lock's artifacts, downloaded (resumably) and verified, as one bundle. */
export function registerBundleBuildCommand(bundle: Command, io: CliIo): void {
  bundle
    .command("build")
    .description(
      "build a bundle from a lock file: download or copy each artifact, verify its sha256, write the bundle",
    )
    .requiredOption("--lock <file>", "lock file (see bundles/)")
    .requiredOption("--out <path>", "a folder, or a file ending in .tar or .tar.zst")
    .option("--force", "replace an existing output (only once the new bundle is complete)")
    .option(
      "--allow-unpinned",
      "accept artifacts the lock marks unverified, recording the sha256 they arrive with",
    )
    .option("--concurrency <n>", "artifacts fetched at once", "4")
    .option(
      "--cache <dir>",
      "keep downloads here across builds (default: <out>.download, removed after success)",
    )
    .action(async (flags: BuildFlags) => {
      const report = buildReporter(io);
      const result = await buildBundle({
        lockFile: flags.lock,
        out: flags.out,
        force: flags.force === true,
        allowUnpinned: flags.allowUnpinned === true,
        concurrency: parseConcurrency(flags.concurrency),
        onEvent: report,
        ...(flags.cache === undefined ? {} : { cacheDir: flags.cache }),
      });
      io.out(
        `bundle ${terminalSafe(result.manifest.name)}: ${result.artifacts} artifact(s), ${formatBytes(result.bytes)} → ${terminalSafe(result.out)}\n`,
      );
    });
}

/** Progress on stderr: one line per artifact start, quarter and end, retries and warnings. */
function buildReporter(io: CliIo): (event: BuildEvent) => void {
  const quarters = new Map<string, number>();
  return (event) => {
    switch (event.type) {
      case "artifact.started":
        io.progress(`${terminalSafe(event.path)}: from ${terminalSafe(event.source)}`);
        return;
      case "artifact.progressed": {
        if (event.bytesTotal === undefined || event.bytesTotal === 0) return;
        const quarter = Math.floor((4 * event.bytesDone) / event.bytesTotal);
        if (quarter === 0 || quarter >= 4 || quarters.get(event.path) === quarter) return;
        quarters.set(event.path, quarter);
        io.progress(`${terminalSafe(event.path)}: ${quarter * 25}% of ${formatBytes(event.bytesTotal)}`);
        return;
      }
      case "artifact.retried":
        io.progress(
          `${terminalSafe(event.path)}: attempt ${event.attempt} failed (${terminalSafe(event.reason)}); retrying in ${(event.delayMs / 1000).toFixed(1)} s`,
        );
        return;
      case "artifact.done": {
        const resumed = event.resumedFrom > 0 ? `, resumed at ${formatBytes(event.resumedFrom)}` : "";
        io.progress(
          `${terminalSafe(event.path)}: ${event.origin} (${formatBytes(event.size)}${resumed}), sha256 ok`,
        );
        return;
      }
      case "warning.raised":
        io.progress(
          `warning: ${event.path === undefined ? "" : `${terminalSafe(event.path)}: `}${terminalSafe(event.message)}`,
        );
        return;
      case "assembly.started":
        io.progress(`writing the bundle (${event.format})`);
        return;
      case "bundle.written":
        return;
    }
  };
}
