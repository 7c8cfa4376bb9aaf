import { Ledger } from "../../agent/ledger/ledger.js";
import type { HostContext, RegisteredStep, StepProgress } from "../../agent/runner/step.js";
import type { Exec, Fs } from "../../shared/host-io.js";
import type { FakeFs } from "./fake-fs.js";

export const TEST_STATE_DIR = "/var/lib/groundcrew/agent/state";

/**
 * Drives one step's check/apply/verify/undo on a fake host the way the
 * runner does (params bound through the step's schema, ledger under
 * TEST_STATE_DIR), collecting what it logs.
 */
export function stepHarness(step: RegisteredStep, host: { fs: Fs; exec: Exec }, params: unknown = {}) {
  const bound = step.bind(params);
  const logs: string[] = [];
  const progress: StepProgress[] = [];
  const ledger = new Ledger(host.fs, TEST_STATE_DIR).forStep(step.id);
  const context: HostContext = {
    exec: host.exec,
    fs: host.fs,
    ledger,
    log: (line) => logs.push(line),
    progress: (update) => progress.push(update),
  };
  return {
    bound,
    ledger,
    logs,
    progress,
    check: () => bound.check(context),
    apply: () => bound.apply(context),
    verify: () => bound.verify(context),
    undo: () => bound.undo(context),
  };
}

/** The fake host's tree without the agent's own state directory: what `reset` must leave as it found it. */
export function hostTree(fs: FakeFs): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fs.snapshot()).filter(([path]) => !path.startsWith(TEST_STATE_DIR)),
  );
}
