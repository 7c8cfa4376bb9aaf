import path from "node:path";
import type { Fs } from "../../shared/host-io.js";
import { fileOp } from "../runner/host-calls.js";
import { parseStateFile } from "../runner/state-dir.js";
import { StepError } from "../runner/step-error.js";
import { removeEmptyDirectory } from "./owned-files.js";
import { emptyRecord, ledgerRecordSchema, type LedgerRecord } from "./record.js";

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/**
 * One step's ledger: `<stateDir>/ledger/<stepId>.json`, and the backups of
 * files the step replaced under `<stateDir>/ledger/backups/<stepId>/`.
 */
export interface StepLedger {
  readonly stepId: string;
  /** The record, or undefined when the step changed nothing on this host. AGENT_STATE_CORRUPT when invalid. */
  read(): Promise<LedgerRecord | undefined>;
  /** Applies `change` to the record (an empty one when there is none) and writes it atomically before resolving. */
  update(change: (record: LedgerRecord) => LedgerRecord): Promise<LedgerRecord>;
  /** Deletes the record, and the backup folders when no backup is left in them. */
  remove(): Promise<void>;
  /** Where the pre-agent version of `file` is kept (a flat name inside the step's backup folder). */
  backupPath(file: string): string;
}

/** The ownership ledger of this host, rooted at `<stateDir>/ledger`. Creates nothing until a step records. */
export class Ledger {
  readonly dir: string;

  constructor(
    private readonly fs: Fs,
    stateDir: string,
  ) {
    this.dir = path.join(stateDir, "ledger");
  }

  read(stepId: string): Promise<LedgerRecord | undefined> {
    return this.forStep(stepId).read();
  }

  forStep(stepId: string): StepLedger {
    const { fs, dir } = this;
    const file = path.join(dir, `${stepId}.json`);
    const backups = path.join(dir, "backups", stepId);
    const read = async (): Promise<LedgerRecord | undefined> => {
      const text = await fileOp("read", file, () => fs.readTextIfExists(file));
      return text === undefined ? undefined : parseRecord(file, text, stepId);
    };
    return {
      stepId,
      read,
      async update(change) {
        const record = change((await read()) ?? emptyRecord(stepId));
        await fileOp("write", file, async () => {
          await fs.mkdirp(dir, DIR_MODE);
          await fs.writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, FILE_MODE);
        });
        return record;
      },
      async remove() {
        await fileOp("remove", file, () => fs.remove(file));
        await removeEmptyDirectory(fs, backups);
        await removeEmptyDirectory(fs, path.dirname(backups));
      },
      backupPath: (original) => path.join(backups, encodeURIComponent(original)),
    };
  }
}

function parseRecord(file: string, text: string, stepId: string): LedgerRecord {
  const record = parseStateFile(ledgerRecordSchema, file, text);
  if (record.stepId !== stepId) {
    throw new StepError("AGENT_STATE_CORRUPT", `ledger record ${file} belongs to step ${record.stepId}`, {
      context: { path: file },
    });
  }
  return record;
}
