import type { GroundcrewError } from "../../shared/errors.js";
import type { EventEnvelope } from "../../shared/protocol.js";

/**
 * The journal's public types. Everything a reader gets back is built from
 * rows that were validated on the way out of SQLite; nothing here is a cast.
 */

export type RunAction = "apply" | "undo";

/** How a run ended, as recorded by `finishRun`. `null` while it runs. */
export type RunOutcome = "succeeded" | "failed" | "interrupted";

export interface JournalOpenOptions {
  /**
   * Open for reading only (`status`, `logs` while `up` runs): takes no lock,
   * applies no migration, refuses every write with JOURNAL_READ_ONLY. The
   * journal must already exist (JOURNAL_NOT_FOUND otherwise).
   */
  readonly readonly?: boolean;
  /**
   * Upper bound on the database file's size. Reaching it fails writes exactly
   * like a full disk (JOURNAL_WRITE_FAILED, SQLite code SQLITE_FULL), so a
   * runaway agent cannot fill the provisioner's disk. No bound by default.
   */
  readonly maxSizeBytes?: number;
  /** Source of `started_at` / `finished_at` / `received_at` timestamps. Defaults to the system clock. */
  readonly clock?: () => Date;
}

/** The SQLite settings in force on a journal's connection, as SQLite reports them (for tests and diagnostics). */
export interface JournalSettings {
  /** "wal" once a writer has opened the journal. */
  readonly journalMode: string;
  readonly synchronous: "off" | "normal" | "full" | "extra";
  readonly foreignKeys: boolean;
  readonly busyTimeoutMs: number;
  readonly schemaVersion: number;
}

export interface NewRun {
  /** Same alphabet as the protocol's run ids: [A-Za-z0-9_-]{1,64}. */
  readonly id: string;
  readonly action: RunAction;
  /** Which inventory the run was made from (a path or name), for humans. */
  readonly inventory: string;
  /** The hosts that take part; events from any other host are refused. Unique names. */
  readonly hosts: readonly string[];
}

export interface RunSummary {
  readonly id: string;
  readonly action: RunAction;
  /** Provisioner clock, ISO 8601. */
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly outcome: RunOutcome | null;
  readonly inventory: string;
  readonly hosts: readonly string[];
}

/** What `append` did: a new event was committed, or the very same event was already there. */
export type AppendResult = "inserted" | "duplicate";

/**
 * What `appendGroup` did with one envelope of the group: what `append` would
 * have returned; `refused` with the error `append` would have thrown for it
 * (one of ENVELOPE_REFUSALS; nothing of it was written); or "skipped": an
 * earlier envelope of the same run and host in the group was refused, so
 * this one was not looked at (nothing of it was written).
 */
export type GroupAppendResult = AppendResult | { readonly refused: GroundcrewError } | "skipped";

/**
 * A host's state in one run, folded from its events:
 * - pending: nothing heard from it yet;
 * - running: `run.started` seen, no `run.finished`;
 * - succeeded / failed: its `run.finished` outcome;
 * - lost: `markHostLost` was called and nothing arrived after that (a host that
 *   reports again, or had already finished, is not lost).
 */
export type HostState = "pending" | "running" | "succeeded" | "failed" | "lost";

/** A step's state, from the last of its step.started/skipped/succeeded/failed events. */
export type StepState = "started" | "skipped" | "succeeded" | "failed";

export interface CurrentStep {
  readonly stepId: string;
  readonly title: string;
  /** 0-based position in the plan. */
  readonly index: number;
}

export interface HostStatus {
  readonly runId: string;
  readonly host: string;
  readonly state: HostState;
  /** The step in progress (its latest event is step.started) while the host is running or lost; else null. */
  readonly currentStep: CurrentStep | null;
  /** Steps whose latest state is succeeded or skipped. */
  readonly stepsDone: number;
  readonly stepsFailed: number;
  /** From `run.started`'s `steps`; null before the host reported it. */
  readonly stepsTotal: number | null;
  /** Agent clock of `run.started` / `run.finished`, ISO 8601. */
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  /** Highest journaled seq for this host (0 if none): the agent's acked prefix. */
  readonly lastSeq: number;
  /** Agent clock of the latest journaled event; null if none. */
  readonly lastEventAt: string | null;
  /** Set when `markHostLost` was called, even if the host came back later. */
  readonly lost: { readonly at: string; readonly reason: string } | null;
}

export interface StepError {
  readonly code: string;
  readonly message: string;
}

export interface StepStatus {
  readonly runId: string;
  readonly host: string;
  readonly stepId: string;
  readonly state: StepState;
  /** From the latest step.started; null for a step that was only ever skipped. */
  readonly title: string | null;
  readonly index: number | null;
  /** Agent clock of the latest step.started; null if it never started. */
  readonly startedAt: string | null;
  /** Agent clock of the terminal event (skipped/succeeded/failed); null while started. */
  readonly finishedAt: string | null;
  /** As measured by the agent; null unless succeeded or failed. */
  readonly durationMs: number | null;
  /** Set when failed. */
  readonly error: StepError | null;
  /** Set when skipped. */
  readonly skipReason: string | null;
  /** What a succeeded step changed; empty otherwise. */
  readonly changes: readonly string[];
}

/** One journaled event: the envelope as received, plus where and when it was stored. */
export interface StoredEvent extends EventEnvelope {
  /** Journal order: strictly increasing in commit order; poll with `afterRowId`. */
  readonly rowId: number;
  /** Provisioner clock when the event was committed, ISO 8601. */
  readonly receivedAt: string;
}

export interface EventQuery {
  readonly runId: string;
  readonly host?: string;
  readonly stepId?: string;
  /** Only events committed after this one (exclusive); for `logs --follow`. */
  readonly afterRowId?: number;
  /** At most this many events (the oldest first). */
  readonly limit?: number;
}
