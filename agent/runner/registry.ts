import type { PlanStep } from "../../shared/protocol.js";
import type { BoundStep, RegisteredStep } from "./step.js";
import { StepError } from "./step-error.js";

/** Maps step ids to steps. */
export interface StepRegistry {
  readonly ids: readonly string[];
  /** The plan step's implementation with validated params. Throws StepError STEP_UNKNOWN or STEP_PARAMS_INVALID. */
  bind(planStep: Pick<PlanStep, "id" | "params">): BoundStep;
}

/** Throws on a duplicate id (a programming error). */
export function createRegistry(steps: readonly RegisteredStep[]): StepRegistry {
  const byId = new Map<string, RegisteredStep>();
  for (const step of steps) {
    if (byId.has(step.id)) throw new Error(`step ${step.id} is registered twice`);
    byId.set(step.id, step);
  }
  return {
    ids: [...byId.keys()],
    bind(planStep) {
      const step = byId.get(planStep.id);
      if (step === undefined) {
        throw new StepError("STEP_UNKNOWN", `this agent has no step ${planStep.id}`, {
          context: { stepId: planStep.id },
        });
      }
      return step.bind(planStep.params);
    },
  };
}
