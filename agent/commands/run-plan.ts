import path from "node:path";
import type { Exec, Fs } from "../../shared/host-io.js";
import { parseFrame, planSchema, type Plan } from "../../shared/protocol.js";
import { Ledger } from "../ledger/ledger.js";
import type { StepRegistry } from "../runner/registry.js";
import { printingReporter } from "../runner/reporter.js";
import { runPlan } from "../runner/run-plan.js";
import { DEFAULT_STATE_DIR } from "../runner/state-dir.js";
import { defaultRegistry } from "../steps/index.js";

export interface RunPlanCommandDeps {
  /** Must already run as root (steps change the host). */
  readonly exec: Exec;
  readonly fs: Fs;
  /** Receives the events, one JSON object per line. */
  readonly stdout: (text: string) => void;
  /** Receives "groundcrew-agent: …" when the plan cannot be read or is not valid. */
  readonly stderr: (text: string) => void;
  /** `--state-dir`: where the ledger lives. Default DEFAULT_STATE_DIR. */
  readonly stateDir?: string;
  /** Resolves a relative plan path. Default: the process's working directory. */
  readonly cwd?: string;
  readonly registry?: StepRegistry;
}

async function readPlan(file: string, deps: RunPlanCommandDeps): Promise<Plan | string> {
  let text: string;
  try {
    text = await deps.fs.readText(file);
  } catch (error) {
    return `cannot read plan ${file}: ${error instanceof Error ? error.message : String(error)}`;
  }
  const parsed = parseFrame(planSchema, text);
  return parsed.ok ? parsed.value : `plan ${file} is not valid (PLAN_INVALID): ${parsed.error}`;
}

/**
 * `groundcrew-agent run --plan FILE [--state-dir DIR]`: runs a plan on this
 * host with no provisioner, printing every event as a JSON line: the fastest
 * way to debug a step on a real box. Every step's check runs each time (no
 * resume: a converged host reports only skipped steps). Resolves 0 when the
 * run succeeded, 1 when it failed or the plan is unreadable or not valid.
 */
export async function runPlanCommand(planFile: string, deps: RunPlanCommandDeps): Promise<number> {
  const file = path.resolve(deps.cwd ?? process.cwd(), planFile);
  const plan = await readPlan(file, deps);
  if (typeof plan === "string") {
    deps.stderr(`groundcrew-agent: ${plan}\n`);
    return 1;
  }
  const finished = await runPlan(plan, {
    registry: deps.registry ?? defaultRegistry(),
    exec: deps.exec,
    fs: deps.fs,
    ledger: new Ledger(deps.fs, deps.stateDir ?? DEFAULT_STATE_DIR),
    reporter: printingReporter(deps.stdout),
  });
  return finished.outcome === "succeeded" ? 0 : 1;
}
