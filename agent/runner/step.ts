import type { z } from "zod";
import { readonlyFs, type Exec, type Fs, type ReadonlyFs } from "../../shared/host-io.js";
import type { StepLedger } from "../ledger/ledger.js";
import { StepError } from "./step-error.js";

export interface CheckResult {
  readonly done: boolean;
  /** Why, for humans: "swap is off and /etc/fstab has no active swap line". */
  readonly reason: string;
}

export interface ChangeResult {
  /** What changed on the host, for humans: "wrote /etc/sysctl.d/90-groundcrew-k8s.conf". */
  readonly changes: string[];
}

export interface StepProgress {
  readonly message?: string;
  readonly bytesDone?: number;
  readonly bytesTotal?: number;
}

/** What the runner hands every step: the host (Exec already runs as root), its ledger, and event sinks. */
export interface HostContext {
  readonly exec: Exec;
  readonly fs: Fs;
  readonly ledger: StepLedger;
  /** One line of human-readable log (reported as `step.log`). */
  readonly log: (line: string) => void;
  readonly progress: (update: StepProgress) => void;
}

export interface StepContext<P> extends HostContext {
  readonly params: P;
}

/**
 * What `check` gets: reads only. `fs` has no write members at all; `exec`
 * runs only the argv prefixes the step declared in `probes` and rejects
 * anything else with STEP_CHECK_NOT_READ_ONLY; the ledger can only be read.
 */
export interface CheckContext<P> {
  readonly exec: Exec;
  readonly fs: ReadonlyFs;
  readonly params: P;
  readonly ledger: Pick<StepLedger, "read">;
  readonly log: (line: string) => void;
}

/**
 * One install step. Every step is idempotent: after `apply` succeeded,
 * `check` reports done. Host access only through the context.
 */
export interface Step<P> {
  /** Stable id: the plan's and the ledger's key ("host.sysctl"). */
  readonly id: string;
  /** Validates the plan's `params`; defaults belong here. */
  readonly params: z.ZodType<P, z.ZodTypeDef, unknown>;
  /** Argv prefixes `check` may run (e.g. ["dpkg-query", "-W"]); none by default. */
  readonly probes?: readonly (readonly string[])[];
  title(params: P): string;
  /** Must not change the host (dry-run is check and nothing else). */
  check(ctx: CheckContext<P>): Promise<CheckResult>;
  /** Records every change in the ledger before making it. */
  apply(ctx: StepContext<P>): Promise<ChangeResult>;
  /** Throws a StepError with a code when the host is not as `apply` promised. */
  verify(ctx: StepContext<P>): Promise<void>;
  /** Removes what the ledger records and restores what was there before; leaves everything else alone. */
  undo(ctx: StepContext<P>): Promise<ChangeResult>;
}

/** A step with its parameters validated: what the runner drives. */
export interface BoundStep {
  readonly id: string;
  readonly title: string;
  check(host: HostContext): Promise<CheckResult>;
  apply(host: HostContext): Promise<ChangeResult>;
  verify(host: HostContext): Promise<void>;
  undo(host: HostContext): Promise<ChangeResult>;
}

/** A step as the registry holds it, its parameter type hidden behind `bind`. */
export interface RegisteredStep {
  readonly id: string;
  /** Throws StepError STEP_PARAMS_INVALID naming the first bad field. */
  bind(params: unknown): BoundStep;
}

export function defineStep<P>(step: Step<P>): RegisteredStep {
  return {
    id: step.id,
    bind(raw) {
      const parsed = step.params.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.join(".") || "(params)";
        throw new StepError(
          "STEP_PARAMS_INVALID",
          `parameters of ${step.id} are not valid at ${where}: ${issue?.message ?? "?"}`,
          { context: { stepId: step.id } },
        );
      }
      const params = parsed.data;
      return {
        id: step.id,
        title: step.title(params),
        check: (host) =>
          step.check({
            exec: probesOnly(host.exec, step),
            fs: readonlyFs(host.fs),
            params,
            ledger: { read: () => host.ledger.read() },
            log: host.log,
          }),
        apply: (host) => step.apply({ ...host, params }),
        verify: (host) => step.verify({ ...host, params }),
        undo: (host) => step.undo({ ...host, params }),
      };
    },
  };
}

/** An Exec that runs only argv starting with one of the step's probes. */
function probesOnly(exec: Exec, step: Pick<Step<unknown>, "id" | "probes">): Exec {
  const probes = step.probes ?? [];
  return {
    run(argv, options) {
      if (probes.some((probe) => probe.every((word, i) => argv[i] === word))) return exec.run(argv, options);
      return Promise.reject(
        new StepError(
          "STEP_CHECK_NOT_READ_ONLY",
          `the check of ${step.id} may not run \`${argv.join(" ")}\`: it is not one of the step's probes`,
          { context: { stepId: step.id, command: argv.join(" ") } },
        ),
      );
    },
  };
}
