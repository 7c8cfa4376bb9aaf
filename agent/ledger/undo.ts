import type { Exec, Fs } from "../../shared/host-io.js";
import { fileOp, mustRun } from "../runner/host-calls.js";
import { StepError } from "../runner/step-error.js";
import { sha256Hex } from "./hash.js";
import type { StepLedger } from "./ledger.js";
import { removeEmptyDirectory } from "./owned-files.js";
import type { ChangedSysctl, OwnedFile, RecordedUninstaller } from "./record.js";
import { sysctlPath } from "./sysctl-path.js";

export interface UndoIo {
  readonly fs: Fs;
  readonly exec: Exec;
  readonly ledger: StepLedger;
}

/**
 * Undoes everything in the step's ledger record, newest first: files (a file
 * the agent created is removed, a file it replaced gets its previous version
 * back), then the directories it created (only when empty), then kernel
 * parameters (previous value written back), then masked units (unmasked),
 * then software it installed with its own installer (its uninstaller run,
 * newest first, unless the uninstaller is gone), then packages it installed
 * (purged) and directory trees it created (deleted). Recorded reboots need
 * no undo.
 * Something changed by someone else since the agent's write is left alone
 * and reported. Each entry leaves the record once undone, so an interrupted
 * undo resumes where it stopped. Resolves the changes made, for humans.
 */
export async function undoRecorded(io: UndoIo): Promise<string[]> {
  const record = await io.ledger.read();
  if (record === undefined) return [];
  const changes: string[] = [];
  for (const file of [...record.files].reverse()) {
    changes.push(...(await undoFile(io, file)));
    await io.ledger.update((r) => ({ ...r, files: r.files.filter((entry) => entry.path !== file.path) }));
  }
  for (const dir of [...record.directories].reverse()) {
    if (await removeEmptyDirectory(io.fs, dir)) changes.push(`removed directory ${dir}`);
    await io.ledger.update((r) => ({ ...r, directories: r.directories.filter((entry) => entry !== dir) }));
  }
  for (const sysctl of record.sysctls) {
    changes.push(...(await undoSysctl(io, sysctl)));
    await io.ledger.update((r) => ({ ...r, sysctls: r.sysctls.filter((entry) => entry.key !== sysctl.key) }));
  }
  for (const unit of record.maskedUnits) {
    await mustRun(io.exec, ["systemctl", "unmask", unit]);
    changes.push(`unmasked ${unit}`);
    await io.ledger.update((r) => ({ ...r, maskedUnits: r.maskedUnits.filter((entry) => entry !== unit) }));
  }
  for (const uninstaller of [...record.uninstallers].reverse()) {
    changes.push(await runUninstaller(io, uninstaller));
    await io.ledger.update((r) => ({
      ...r,
      uninstallers: r.uninstallers.filter((entry) => entry.argv.join("\0") !== uninstaller.argv.join("\0")),
    }));
  }
  if (record.packages.length > 0) {
    // One call, so dpkg orders the removals by their dependencies; packages already gone are ignored.
    await mustRun(io.exec, ["dpkg", "--purge", ...record.packages], {
      env: { DEBIAN_FRONTEND: "noninteractive" },
    });
    changes.push(`purged ${record.packages.join(", ")}`);
    await io.ledger.update((r) => ({ ...r, packages: [] }));
  }
  for (const tree of record.trees) {
    await mustRun(io.exec, ["rm", "-rf", "--", tree]);
    changes.push(`removed ${tree}`);
    await io.ledger.update((r) => ({ ...r, trees: r.trees.filter((entry) => entry !== tree) }));
  }
  return changes;
}

/** Runs a recorded uninstaller; one whose program is gone was removed by someone else already. */
async function runUninstaller(io: UndoIo, uninstaller: RecordedUninstaller): Promise<string> {
  const [program] = uninstaller.argv;
  if ((await fileOp("stat", program, () => io.fs.stat(program))) === undefined) {
    return `left ${uninstaller.what}: ${program} is gone (already uninstalled)`;
  }
  await mustRun(io.exec, uninstaller.argv);
  return `uninstalled ${uninstaller.what}`;
}

async function undoFile(io: UndoIo, file: OwnedFile): Promise<string[]> {
  const { fs } = io;
  const current = await fileOp("read", file.path, () => fs.readTextIfExists(file.path));
  const currentHash = current === undefined ? undefined : sha256Hex(current);
  const previous = file.previous;
  if (previous === null) {
    if (currentHash === undefined) return [];
    if (currentHash !== file.sha256) return [`left ${file.path}: changed since groundcrew wrote it`];
    await fileOp("remove", file.path, () => fs.remove(file.path));
    return [`removed ${file.path}`];
  }
  // A crash between recording and writing leaves the previous version in place: restoring it is harmless.
  if (currentHash !== undefined && currentHash !== file.sha256 && currentHash !== previous.sha256) {
    return [
      `left ${file.path}: changed since groundcrew wrote it (previous version kept at ${previous.backup})`,
    ];
  }
  const content = await fileOp("read", previous.backup, () => fs.readText(previous.backup));
  if (sha256Hex(content) !== previous.sha256) {
    throw new StepError(
      "AGENT_STATE_CORRUPT",
      `backup ${previous.backup} of ${file.path} does not match the ledger`,
      {
        context: { path: previous.backup },
      },
    );
  }
  await fileOp("restore", file.path, () => fs.writeFileAtomic(file.path, content, previous.mode));
  await fileOp("remove", previous.backup, () => fs.remove(previous.backup));
  return [`restored ${file.path}`];
}

async function undoSysctl(io: UndoIo, sysctl: ChangedSysctl): Promise<string[]> {
  const file = sysctlPath(sysctl.key);
  const current = (await fileOp("read", file, () => io.fs.readTextIfExists(file)))?.trim();
  if (current === undefined || current === sysctl.previous) return [];
  if (current !== sysctl.applied) return [`left ${sysctl.key}=${current}: changed since groundcrew set it`];
  await mustRun(io.exec, ["sysctl", "-w", `${sysctl.key}=${sysctl.previous}`]);
  return [`restored ${sysctl.key}=${sysctl.previous}`];
}
