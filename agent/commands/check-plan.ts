import { z } from "zod";
import type { Exec, Fs } from "../../shared/host-io.js";
import { parseFrame, planSchema } from "../../shared/protocol.js";
import { Ledger } from "../ledger/ledger.js";
import type { StepRegistry } from "../runner/registry.js";
import { DEFAULT_STATE_DIR } from "../runner/state-dir.js";
import { defaultRegistry } from "../steps/index.js";

/** One line of `check-plan` output: what `up` would do for a step. */
export const stepCheckSchema = z
  .object({
    stepId: z.string(),
    title: z.string(),
    done: z.boolean(),
    reason: z.string(),
  })
  .strict();

export type StepCheck = z.infer<typeof stepCheckSchema>;

export interface CheckPlanDeps {
  readonly exec: Exec;
  readonly fs: Fs;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly stateDir?: string;
  readonly registry?: StepRegistry;
}

/**
 * `groundcrew-agent check-plan`: reads a plan on standard input and runs
 * only each step's `check` (which gets a read-only view of the host), printing
 * one StepCheck JSON line per step. Changes nothing: this is `up --dry-run`.
 */
export async function checkPlanCommand(deps: CheckPlanDeps): Promise<number> {
  const parsed = parseFrame(planSchema, await deps.readStdin());
  if (!parsed.ok) {
    deps.stderr(`groundcrew-agent: the plan is not valid (PLAN_INVALID): ${parsed.error}\n`);
    return 1;
  }
  const registry = deps.registry ?? defaultRegistry();
  const ledger = new Ledger(deps.fs, deps.stateDir ?? DEFAULT_STATE_DIR);
  for (const planStep of parsed.value.steps) {
    const step = registry.bind(planStep);
    const result = await step.check({
      exec: deps.exec,
      fs: deps.fs,
      ledger: ledger.forStep(step.id),
      log: () => undefined,
      progress: () => undefined,
    });
    const line: StepCheck = { stepId: step.id, title: planStep.title || step.title, ...result };
    deps.stdout(`${JSON.stringify(line)}\n`);
  }
  return 0;
}
