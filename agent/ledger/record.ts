import { z } from "zod";

const absolutePath = z.string().regex(/^\/[^\0]*$/, "an absolute path");
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "a sha256 in hex");
const mode = z.number().int().min(0).max(0o7777);

/** A file the step wrote. `previous` is the version that was there before the agent came, if any. */
export const ownedFileSchema = z
  .object({
    path: absolutePath,
    /** What the agent wrote last. */
    sha256,
    mode,
    previous: z.object({ backup: absolutePath, sha256, mode }).strict().nullable(),
  })
  .strict();

/** A kernel parameter the step changed, with its value before the agent came. */
export const changedSysctlSchema = z
  .object({
    key: z.string().regex(/^[A-Za-z0-9_.-]+$/),
    previous: z.string(),
    applied: z.string(),
  })
  .strict();

/** One port opened in the host firewall (ufw or firewalld), from `source` (a CIDR) or anywhere. */
export const firewallRuleSchema = z
  .object({
    tool: z.enum(["ufw", "firewalld"]),
    /** "6443", "2379-2380", or "any" (every port, with a source: the pod and service networks). */
    port: z.string().regex(/^(any|\d{1,5}(-\d{1,5})?)$/),
    protocol: z.enum(["tcp", "udp"]),
    source: z
      .string()
      .regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/)
      .optional(),
  })
  .strict();

/**
 * Software the step installed with its own installer (not dpkg), e.g. the
 * NVIDIA driver's runfile: undo runs `argv` (argv[0] an absolute path) unless
 * that program is gone. Nothing like it was installed before the step ran.
 */
export const recordedUninstallerSchema = z
  .object({
    /** What it removes, for humans: "the NVIDIA driver (nvidia/NVIDIA-Linux-x86_64-550.run)". */
    what: z.string().min(1).max(300),
    argv: z.tuple([absolutePath]).rest(z.string().max(200)),
  })
  .strict();

/** A reboot the step asked for, by the boot it ended (/proc/sys/kernel/random/boot_id): nothing to undo, a guard against reboot loops. */
export const recordedRebootSchema = z
  .object({
    bootId: z.string().regex(/^[0-9a-f-]{36}$/),
    reason: z.string().min(1).max(300),
  })
  .strict();

/**
 * What one step created or changed on this host, so that its undo removes
 * exactly that and restores what was there before. Entries are recorded
 * BEFORE the change they describe, so a crash never leaves an unrecorded change.
 */
export const ledgerRecordSchema = z
  .object({
    version: z.literal(1),
    stepId: z.string(),
    files: z.array(ownedFileSchema),
    /** Directories the step created (outermost first); undo removes them when empty. */
    directories: z.array(absolutePath),
    sysctls: z.array(changedSysctlSchema),
    /** systemd units the step masked (they were not masked before). */
    maskedUnits: z.array(z.string().regex(/^[A-Za-z0-9@:._\\-]+$/)),
    /** Debian packages the step installed (none was installed before): undo purges them. */
    packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/)).default([]),
    /** Directory trees the step's work created (none existed before), e.g. /var/lib/docker: undo deletes them whole. */
    trees: z.array(absolutePath).default([]),
    /** System groups the step's work created (none existed before): undo deletes them. */
    groups: z.array(z.string().regex(/^[a-z_][a-z0-9_-]*$/)).default([]),
    /** Host firewall rules the step added (none was there before): undo deletes them. */
    firewallRules: z.array(firewallRuleSchema).default([]),
    /** Software the step installed with its own installer: undo runs its uninstaller. */
    uninstallers: z.array(recordedUninstallerSchema).default([]),
    /** Reboots the step asked for (informational: undo changes nothing for them). */
    reboots: z.array(recordedRebootSchema).default([]),
  })
  .strict();

export type OwnedFile = z.infer<typeof ownedFileSchema>;
export type ChangedSysctl = z.infer<typeof changedSysctlSchema>;
export type FirewallRule = z.infer<typeof firewallRuleSchema>;
export type RecordedUninstaller = z.infer<typeof recordedUninstallerSchema>;
export type RecordedReboot = z.infer<typeof recordedRebootSchema>;
export type LedgerRecord = z.infer<typeof ledgerRecordSchema>;

export function emptyRecord(stepId: string): LedgerRecord {
  return {
    version: 1,
    stepId,
    files: [],
    directories: [],
    sysctls: [],
    maskedUnits: [],
    packages: [],
    trees: [],
    groups: [],
    firewallRules: [],
    uninstallers: [],
    reboots: [],
  };
}

/** Records a write of `file.path`; an earlier entry's `previous` wins (it is the pre-agent version). */
export function withFile(record: LedgerRecord, file: OwnedFile): LedgerRecord {
  const earlier = record.files.find((entry) => entry.path === file.path);
  const entry = earlier === undefined ? file : { ...file, previous: earlier.previous };
  return { ...record, files: [...record.files.filter((other) => other.path !== file.path), entry] };
}

export function withDirectory(record: LedgerRecord, path: string): LedgerRecord {
  if (record.directories.includes(path)) return record;
  return { ...record, directories: [...record.directories, path] };
}

/** Records a changed kernel parameter; the first record of a key wins (it holds the pre-agent value). */
export function withSysctl(record: LedgerRecord, sysctl: ChangedSysctl): LedgerRecord {
  if (record.sysctls.some((entry) => entry.key === sysctl.key)) return record;
  return { ...record, sysctls: [...record.sysctls, sysctl] };
}

export function withMaskedUnit(record: LedgerRecord, unit: string): LedgerRecord {
  if (record.maskedUnits.includes(unit)) return record;
  return { ...record, maskedUnits: [...record.maskedUnits, unit] };
}

/** Records packages about to be installed that were not installed before. */
export function withPackages(record: LedgerRecord, packages: readonly string[]): LedgerRecord {
  const added = packages.filter((name) => !record.packages.includes(name));
  return added.length === 0 ? record : { ...record, packages: [...record.packages, ...added] };
}

/** Records a directory tree about to be created (it did not exist). */
export function withTree(record: LedgerRecord, path: string): LedgerRecord {
  return record.trees.includes(path) ? record : { ...record, trees: [...record.trees, path] };
}

/** Records software about to be installed by its own installer; one entry per uninstall command. */
export function withUninstaller(record: LedgerRecord, uninstaller: RecordedUninstaller): LedgerRecord {
  const same = (entry: RecordedUninstaller) => entry.argv.join("\0") === uninstaller.argv.join("\0");
  return record.uninstallers.some(same)
    ? record
    : { ...record, uninstallers: [...record.uninstallers, uninstaller] };
}

/** Records a reboot about to be asked for, once per boot. */
export function withReboot(record: LedgerRecord, reboot: RecordedReboot): LedgerRecord {
  return record.reboots.some((entry) => entry.bootId === reboot.bootId)
    ? record
    : { ...record, reboots: [...record.reboots, reboot] };
}
